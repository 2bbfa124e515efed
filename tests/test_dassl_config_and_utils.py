"""Bundled Dassl: default config tree, meters, logger, small utils, transforms, data wrapper."""

import os
import sys
import warnings

import pytest
import torch
from PIL import Image

from dassl.config import get_cfg_default
from dassl.data.data_manager import DatasetWrapper
from dassl.data.datasets import Datum
from dassl.data.transforms import build_transform
from dassl.utils import (
    AverageMeter,
    MetricMeter,
    check_isfile,
    collect_env_info,
    listdir_nohidden,
    read_image,
    read_json,
    set_random_seed,
    setup_logger,
    write_json,
)

# Every Dassl key named in shared/spec/ecosystem.md "Config keys".
SPEC_KEYS = """
OUTPUT_DIR RESUME SEED USE_CUDA VERBOSE
INPUT.SIZE INPUT.INTERPOLATION INPUT.PIXEL_MEAN INPUT.PIXEL_STD INPUT.TRANSFORMS INPUT.RRCROP_SCALE
DATASET.ROOT DATASET.NAME DATASET.NUM_SHOTS DATASET.SOURCE_DOMAINS DATASET.TARGET_DOMAINS
DATALOADER.NUM_WORKERS DATALOADER.TRAIN_X.BATCH_SIZE DATALOADER.TRAIN_X.SAMPLER
DATALOADER.TEST.BATCH_SIZE
MODEL.BACKBONE.NAME MODEL.INIT_WEIGHTS MODEL.HEAD.NAME
OPTIM.NAME OPTIM.LR OPTIM.WEIGHT_DECAY OPTIM.MOMENTUM OPTIM.LR_SCHEDULER OPTIM.MAX_EPOCH
OPTIM.WARMUP_EPOCH OPTIM.WARMUP_TYPE OPTIM.WARMUP_CONS_LR OPTIM.WARMUP_MIN_LR OPTIM.WARMUP_RECOUNT
OPTIM.STEPSIZE OPTIM.GAMMA
TRAIN.PRINT_FREQ TRAIN.CHECKPOINT_FREQ
TEST.EVALUATOR TEST.PER_CLASS_RESULT TEST.COMPUTE_CMAT TEST.NO_TEST TEST.SPLIT TEST.FINAL_MODEL
TRAINER.NAME
""".split()


def _get(cfg, dotted):
    node = cfg
    for part in dotted.split("."):
        assert part in node, f"missing config key {dotted}"
        node = node[part]
    return node


def test_spec_config_keys_exist_with_spec_defaults():
    cfg = get_cfg_default()
    for key in SPEC_KEYS:
        _get(cfg, key)
    assert cfg.OPTIM.WEIGHT_DECAY == 5e-4
    assert cfg.OPTIM.MOMENTUM == 0.9
    assert cfg.OPTIM.WARMUP_RECOUNT is True
    assert cfg.TRAIN.CHECKPOINT_FREQ == 0
    assert cfg.TEST.SPLIT == "test"
    assert cfg.TEST.FINAL_MODEL == "last_step"
    assert cfg.SEED == -1 and cfg.USE_CUDA is True
    assert tuple(cfg.INPUT.SIZE) == (224, 224)
    assert tuple(cfg.INPUT.RRCROP_SCALE) == (0.08, 1.0)
    # each call returns an independent copy
    cfg.OPTIM.LR = 1.0
    assert get_cfg_default().OPTIM.LR == 0.0003


def test_upstream_style_yaml_merges(tmp_path):
    """A CoOp-style method YAML (minus its TRAINER.COOP node) merges into the defaults."""
    yaml_text = """
DATALOADER:
  TRAIN_X:
    BATCH_SIZE: 32
  TEST:
    BATCH_SIZE: 100
  NUM_WORKERS: 8
INPUT:
  SIZE: (224, 224)
  INTERPOLATION: "bicubic"
  PIXEL_MEAN: [0.48145466, 0.4578275, 0.40821073]
  PIXEL_STD: [0.26862954, 0.26130258, 0.27577711]
  TRANSFORMS: ["random_resized_crop", "random_flip", "normalize"]
OPTIM:
  NAME: "sgd"
  LR: 0.002
  MAX_EPOCH: 200
  LR_SCHEDULER: "cosine"
  WARMUP_EPOCH: 1
  WARMUP_TYPE: "constant"
  WARMUP_CONS_LR: 1e-5
  STEPSIZE: [30]
TRAIN:
  PRINT_FREQ: 5
MODEL:
  BACKBONE:
    NAME: "ViT-B/16"
TRAINER:
  DAEL:
    WEIGHT_U: 0.5
  FIXMATCH:
    STRONG_TRANSFORMS: ["randaugment"]
"""
    path = tmp_path / "m.yaml"
    path.write_text(yaml_text)
    cfg = get_cfg_default()
    cfg.merge_from_file(str(path))
    cfg.merge_from_list(["OPTIM.MAX_EPOCH", "5", "DATASET.NUM_SHOTS", "16"])
    assert cfg.INPUT.INTERPOLATION == "bicubic"
    assert list(cfg.INPUT.TRANSFORMS) == ["random_resized_crop", "random_flip", "normalize"]
    assert cfg.OPTIM.MAX_EPOCH == 5 and cfg.DATASET.NUM_SHOTS == 16
    assert cfg.OPTIM.WARMUP_CONS_LR == 1e-5


def test_meters():
    m = AverageMeter()
    m.update(1.0)
    m.update(torch.tensor(3.0), n=3)
    assert m.val == 3.0 and m.count == 4 and m.avg == pytest.approx(2.5)
    mm = MetricMeter(delimiter=" | ")
    mm.update({"loss": 1.0, "acc": torch.tensor(50.0)})
    mm.update({"loss": 0.5, "acc": 100.0})
    assert str(mm) == "loss 0.5000 (0.7500) | acc 100.0000 (75.0000)"
    assert str(MetricMeter()) == ""
    with pytest.raises(TypeError):
        mm.update([1.0])


def test_logger_tees_and_never_overwrites(tmp_path, capsys):
    out = tmp_path / "run"
    first = setup_logger(str(out))
    try:
        print("hello log")
        print("to stderr", file=sys.stderr)
    finally:
        first.close()
    text = (out / "log.txt").read_text()
    assert "hello log" in text and "to stderr" in text
    second = setup_logger(str(out))
    try:
        print("second run")
    finally:
        second.close()
    assert os.path.basename(second.path).startswith("log.txt-")
    assert "second run" not in (out / "log.txt").read_text()
    assert "second run" in open(second.path).read()
    assert not isinstance(sys.stdout, type(None)) and "Logger" not in type(sys.stdout).__name__
    explicit = setup_logger(str(tmp_path / "x.log"))
    explicit.close()
    assert (tmp_path / "x.log").exists()
    assert "hello log" in capsys.readouterr().out


def test_small_utils(tmp_path):
    (tmp_path / ".hidden").write_text("")
    (tmp_path / "b").write_text("")
    (tmp_path / "a").write_text("")
    assert listdir_nohidden(str(tmp_path), sort=True) == ["a", "b"]
    write_json({"train": [["x.jpg", 0, "cat"]]}, str(tmp_path / "sub" / "s.json"))
    assert read_json(str(tmp_path / "sub" / "s.json")) == {"train": [["x.jpg", 0, "cat"]]}
    assert [p for p in os.listdir(tmp_path / "sub")] == ["s.json"]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        assert check_isfile(str(tmp_path / "nope")) is False
    assert rec and "nope" in str(rec[0].message)
    set_random_seed(3)
    a = torch.rand(2)
    set_random_seed(3)
    assert torch.equal(a, torch.rand(2))
    info = collect_env_info()
    for word in ("Python", "PyTorch", "torchvision", "Platform", "CUDA available"):
        assert word in info


def test_read_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_image(str(tmp_path / "missing.png"))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(OSError, match="bad.png") as exc:
        read_image(str(bad), retries=1)
    assert "\n" not in str(exc.value)


def test_transforms_and_wrapper(tmp_path):
    cfg = get_cfg_default()
    cfg.INPUT.SIZE = (16, 16)
    cfg.INPUT.INTERPOLATION = "bicubic"
    cfg.INPUT.TRANSFORMS = ("random_resized_crop", "random_flip", "normalize")
    img = Image.new("RGB", (40, 24), (200, 30, 30))
    path = tmp_path / "a.png"
    img.save(path)
    train_tfm = build_transform(cfg, is_train=True)
    test_tfm = build_transform(cfg, is_train=False)
    assert train_tfm(img).shape == (3, 16, 16)
    assert test_tfm(img).shape == (3, 16, 16)
    everything = ("random_crop", "random_flip", "colorjitter", "randomgrayscale",
                  "gaussian_blur", "cutout", "normalize", "gaussian_noise", "randaugment")
    cfg.INPUT.GB_K = 3
    assert build_transform(cfg, choices=everything)(img.resize((16, 16))).shape == (3, 16, 16)
    with pytest.raises(ValueError, match="bogus"):
        build_transform(cfg, choices=("bogus",))

    cfg.DATALOADER.RETURN_IMG0 = True
    wrapper = DatasetWrapper(cfg, [Datum(impath=str(path), label=1, domain=0)], train_tfm, True)
    item = wrapper[0]
    assert set(item) == {"img", "img0", "label", "domain", "impath", "index"}
    assert item["label"] == 1 and item["index"] == 0 and item["impath"] == str(path)
    assert item["img0"].shape == (3, 16, 16)


def test_samplers_batch_structure():
    from dassl.data.samplers import build_sampler

    data = [Datum(impath=f"{i}.png", label=i % 4, domain=i % 2) for i in range(32)]
    idx = list(build_sampler("RandomClassSampler", data_source=data, batch_size=8, n_ins=4))
    assert len(idx) == 32
    for b in range(0, 32, 8):
        labels = [data[i].label for i in idx[b:b + 8]]
        assert len(set(labels)) == 2 and all(labels.count(x) == 4 for x in set(labels))
    idx = list(build_sampler("RandomDomainSampler", data_source=data, batch_size=8, n_domain=2))
    assert [data[i].domain for i in idx[:8]].count(0) == 4
    idx = list(build_sampler("SeqDomainSampler", data_source=data, batch_size=8))
    assert idx[:8] == [0, 2, 4, 6, 1, 3, 5, 7]
    with pytest.raises(ValueError, match="Bogus"):
        build_sampler("Bogus", data_source=data)
