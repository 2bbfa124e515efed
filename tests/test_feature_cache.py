"""TEST.FEATURE_CACHE: same logits on and off for every trainer, hits open no image, stale or
corrupt entries are rebuilt, and two processes racing on one cache both end correct."""

import json
import os
import subprocess
import sys

import pytest
import torch

from tests.helpers import PROMPTSRC_TINY, ROOT, eurosat_setup, train_argv, trainer_for
from trainers import feature_cache

# trainer -> (config, extra opts for the 2-layer tiny CLIP)
TRAINERS = {
    "ZeroshotCLIP": ("ZeroshotCLIP/vit_b16", []),
    "CoOp": ("CoOp/vit_b16_ctxv1", []),
    "CoCoOp": ("CoCoOp/vit_b16_c4_ep10_batch1_ctxv1", []),
    "KgCoOp": ("KgCoOp/vit_b16_ep100_ctxv1", []),
    "MaPLe": ("MaPLe/vit_b16_c2_ep5_batch4_2ctx", ["TRAINER.MAPLE.PROMPT_DEPTH", "2"]),
    "PromptSRC": ("PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx", PROMPTSRC_TINY),
}
TRAINERS.update({f"{name}_SAR": (config.replace(name, f"{name}_SAR", 1), opts)
                 for name, (config, opts) in list(TRAINERS.items()) if name != "ZeroshotCLIP"})
SMALL_BATCHES = ["DATALOADER.TEST.BATCH_SIZE", "16"]  # several batches per pass


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return eurosat_setup(tmp_path_factory, "feature_cache")


def build(setup, tmp_path, trainer, cache="", extra=()):
    root, clip, _ = setup
    config, opts = TRAINERS[trainer]
    return trainer_for(train_argv(root, clip, tmp_path / "out", trainer, config, opts=[
        *opts, *SMALL_BATCHES, "TEST.FEATURE_CACHE", str(cache), *extra]))


def set_cache(trainer, cache):
    trainer.cfg.defrost()
    trainer.cfg.TEST.FEATURE_CACHE = str(cache)
    trainer.cfg.freeze()


def evaluated_logits(trainer):
    """Logits the evaluator receives during one test() call, concatenated."""
    seen = []
    process = trainer.evaluator.process
    trainer.evaluator.process = lambda mo, gt: (seen.append(mo.detach().clone()), process(mo, gt))
    try:
        trainer.test()
    finally:
        trainer.evaluator.process = process
    return torch.cat(seen)


@torch.no_grad()
def per_batch_logits(trainer):
    """The upstream loop: the whole model (text tower included) for every test batch."""
    trainer.set_model_mode("eval")
    outputs = []
    for batch in trainer.test_loader:
        image, _ = trainer.parse_batch_test(batch)
        if hasattr(trainer, "model"):
            outputs.append(trainer.model(image).logits.float())
        else:
            outputs.append(trainer.model_inference(image))
    return torch.cat(outputs)


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_logits_identical_with_text_once_and_cache_on_and_off(setup, tmp_path, name):
    trainer = build(setup, tmp_path, name)
    reference = per_batch_logits(trainer)
    assert torch.equal(evaluated_logits(trainer), reference)  # text once per pass, no cache
    set_cache(trainer, tmp_path / "cache")
    assert torch.equal(evaluated_logits(trainer), reference)  # cold
    assert torch.equal(evaluated_logits(trainer), reference)  # hit
    entries = os.listdir(tmp_path / "cache") if (tmp_path / "cache").exists() else []
    assert len(entries) == (0 if trainer.prompted_image_tower else 1)


def test_prompted_image_towers_ignore_the_knob_with_a_line(setup, tmp_path, capsys):
    trainer = build(setup, tmp_path, "MaPLe", cache=tmp_path / "cache")
    trainer.test()
    out = capsys.readouterr().out
    assert "TEST.FEATURE_CACHE is ignored: MaPLe's image tower takes prompts" in out
    assert not (tmp_path / "cache").exists()


def test_a_hit_opens_no_image_and_runs_no_image_tower(setup, tmp_path, monkeypatch):
    trainer = build(setup, tmp_path, "CoOp", cache=tmp_path / "cache")
    first = evaluated_logits(trainer)

    def refuse(*_args, **_kwargs):
        raise AssertionError("a cache hit must not read images or run the image tower")

    monkeypatch.setattr("dassl.data.data_manager.read_image", refuse)
    monkeypatch.setattr(trainer.model, "encode_image", refuse)
    assert torch.equal(evaluated_logits(trainer), first)


def only_entry(cache):
    (entry,) = [p for p in cache.iterdir()]
    return entry


def test_a_stale_key_is_rebuilt_not_reused(setup, tmp_path, capsys):
    cache = tmp_path / "cache"
    trainer = build(setup, tmp_path, "CoOp", cache=cache)
    reference = evaluated_logits(trainer)
    manifest = only_entry(cache) / "manifest.json"
    data = json.loads(manifest.read_text())
    data["key"]["precision"] = "fp16"  # an entry that claims other settings
    manifest.write_text(json.dumps(data))
    assert torch.equal(evaluated_logits(trainer), reference)
    out = capsys.readouterr().out
    assert "its key does not match this evaluation (stale entry)); rebuilding it" in out
    assert json.loads(manifest.read_text())["key"]["precision"] == "fp32"


def test_other_transform_settings_get_their_own_entry(setup, tmp_path):
    cache = tmp_path / "cache"
    evaluated_logits(build(setup, tmp_path, "CoOp", cache=cache))
    evaluated_logits(build(setup, tmp_path, "CoOp", cache=cache, extra=["INPUT.INTERPOLATION",
                                                                   "bilinear"]))
    assert len(list(cache.iterdir())) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest"])
def test_a_corrupt_entry_warns_in_one_line_and_is_rebuilt(setup, tmp_path, capsys, damage):
    cache = tmp_path / "cache"
    trainer = build(setup, tmp_path, "KgCoOp", cache=cache)
    reference = evaluated_logits(trainer)
    entry = only_entry(cache)
    target = entry / ("manifest.json" if damage == "manifest" else "features.npy")
    data = target.read_bytes()
    if damage == "flip":
        data = data[:-1] + bytes([data[-1] ^ 1])
    target.write_bytes(data[: len(data) // 2] if damage != "flip" else data)
    capsys.readouterr()
    assert torch.equal(evaluated_logits(trainer), reference)
    warnings = [line for line in capsys.readouterr().out.splitlines() if "Warning" in line]
    assert len(warnings) == 1 and "rebuilding it" in warnings[0]
    assert feature_cache.load_entry(str(entry), json.loads(
        (entry / "manifest.json").read_text())["key"]) is not None


def test_an_upstream_config_without_the_key_means_off():
    from yacs.config import CfgNode

    cfg = CfgNode({"TEST": CfgNode({"SPLIT": "test"})})
    assert feature_cache.cache_root(cfg) == ""


def test_two_processes_racing_on_one_cache_both_end_correct(setup, tmp_path):
    root, clip, _ = setup
    cache = tmp_path / "cache"

    def command(out, with_cache):
        argv = train_argv(root, clip, tmp_path / out, "ZeroshotCLIP", "ZeroshotCLIP/vit_b16",
                          "--eval-only", opts=["TEST.FEATURE_CACHE", str(cache) if with_cache
                                               else ""])
        return [sys.executable, os.path.join(ROOT, "train.py"), *argv]

    env = dict(os.environ, OMP_NUM_THREADS="1")
    racers = [subprocess.Popen(command(f"race{i}", True), cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
              for i in range(2)]
    subprocess.run(command("plain", False), cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    for racer in racers:
        assert racer.wait(timeout=300) == 0, racer.stderr.read().decode()[-2000:]

    def result(out):
        log = (tmp_path / out / "log.txt").read_text()
        return [line for line in log.splitlines() if line.startswith("* ")]

    assert result("race0") == result("race1") == result("plain")
    assert len(list(cache.iterdir())) == 1  # one entry, no temporary folder left behind
    entry = only_entry(cache)
    key = json.loads((entry / "manifest.json").read_text())["key"]
    assert feature_cache.load_entry(str(entry), key) is not None


@pytest.mark.parametrize("name", ["ZeroshotCLIP", "CoOp"])
def test_an_unwritable_cache_folder_fails_before_anything_runs(setup, tmp_path, name):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match="TEST.FEATURE_CACHE .*file/cache: cannot create it"):
        build(setup, tmp_path, name, cache=blocker / "cache")


def test_an_entry_follows_the_umask(tmp_path):
    key = {"images": {"count": 2}}
    previous = os.umask(0o002)
    try:
        entry = tmp_path / "cache" / "eurosat-test-0"
        feature_cache.store_entry(str(entry), key, torch.zeros(2, 3), torch.zeros(2))
    finally:
        os.umask(previous)
    assert entry.stat().st_mode & 0o777 == 0o775  # a shared cache: the group may read it
    assert all(path.stat().st_mode & 0o777 == 0o664 for path in entry.iterdir())
    assert feature_cache.load_entry(str(entry), key) is not None
    assert os.listdir(tmp_path / "cache") == ["eurosat-test-0"]
