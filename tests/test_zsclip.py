"""Zero-shot CLIP evaluates every dataset config on the synthetic root (each upstream layout)."""

import pytest

import train
from datasets import DATASET_CONFIGS
from tests.helpers import TINY_OPTS, tiny_clip_path
from tools.make_synthetic_data import write_synthetic_root
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
