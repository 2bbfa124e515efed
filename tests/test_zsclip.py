"""Zero-shot CLIP evaluates every dataset config on the synthetic root (each upstream layout)."""

import pytest

import train
from datasets import DATASET_CONFIGS
from datasets.synthetic import write_synthetic_root
from tests.helpers import TINY_OPTS, tiny_clip_path
from trainers.prompts import dataset_template


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("zsclip")
    root = str(base / "data")
    classnames = write_synthetic_root(root, images_per_class=(4, 2, 2))
    return root, tiny_clip_path(base), classnames


@pytest.mark.parametrize("stem", sorted(DATASET_CONFIGS))
def test_zero_shot_eval_on_every_dataset(setup, stem, tmp_path):
    root, clip, classnames = setup
    name = DATASET_CONFIGS[stem]
    out = tmp_path / stem
    code = train.main(["--root", root, "--trainer", "ZeroshotCLIP", "--eval-only",
                       "--dataset-config-file", f"configs/datasets/{stem}.yaml",
                       "--config-file", "configs/trainers/ZeroshotCLIP/vit_b16.yaml",
                       "--output-dir", str(out), "MODEL.BACKBONE.NAME", clip, *TINY_OPTS,
                       "DATASET.NUM_SHOTS", "-1"])
    assert code == 0
    log = (out / "log.txt").read_text()
    assert "* accuracy:" in log
    first = dataset_template(name).format(classnames[name][0].replace("_", " "))
    assert repr(first) in log


# ---- on the pretrained toy CLIP: accuracy that means something ------------------------------

ZS_CONFIGS = ["rn50", "rn101", "vit_b16", "vit_b32"]


def zero_shot_accuracy(toy, out, config="vit_b16", subsample="base", opts=()):
    from tests.helpers import read_log, toy_argv
    from tools.toy_world.bench import read_accuracy

    code = train.main(toy_argv(toy, out, "ZeroshotCLIP", f"ZeroshotCLIP/{config}", "--eval-only",
                               opts=["DATASET.SUBSAMPLE_CLASSES", subsample, *opts]))
    assert code == 0, read_log(out)
    return read_accuracy(out / "log.txt")


@pytest.mark.parametrize("config", ZS_CONFIGS)
def test_every_shipped_zero_shot_config_is_far_above_chance_on_the_toy_clip(toy, config, tmp_path):
    chance = 100 / len(toy.world.base_classes)
    assert zero_shot_accuracy(toy, tmp_path, config) > max(70.0, 10 * chance)


def test_zero_shot_without_normalization_is_refused_and_would_be_far_worse(toy, tmp_path):
    from tests.helpers import toy_argv

    code = train.main(toy_argv(toy, tmp_path / "refused", "ZeroshotCLIP", "ZeroshotCLIP/vit_b16",
                               "--eval-only", opts=["INPUT.TRANSFORMS", "[]"]))
    assert code != 0
    assert not (tmp_path / "refused" / "log.txt").exists() or \
        "lacks 'normalize'" in (tmp_path / "refused" / "log.txt").read_text()
    normalized = zero_shot_accuracy(toy, tmp_path / "ok")
    raw = zero_shot_accuracy(toy, tmp_path / "raw", opts=["INPUT.TRANSFORMS", "[]",
                                                          "INPUT.ALLOW_UNNORMALIZED", "True"])
    assert raw < normalized - 20, (raw, normalized)
