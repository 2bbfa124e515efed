"""Bundled Dassl: weights-only checkpoints, atomic writes, restricted loading of old files."""

import errno
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch

from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.utils import (
    load_checkpoint,
    load_pretrained_weights,
    resume_from_checkpoint,
    save_checkpoint,
    tools,
)
from dassl.utils.safe_pickle import InertObject
from tests.helpers import coop_optim_cfg, fill_the_disk


def _toy():
    cfg = coop_optim_cfg()
    model = torch.nn.Linear(4, 3)
    optim = build_optimizer(model, cfg.OPTIM)
    sched = build_lr_scheduler(optim, cfg.OPTIM)
    return cfg, model, optim, sched


def _state(model, optim, sched, epoch):
    return {
        "state_dict": model.state_dict(),
        "epoch": epoch,
        "optimizer": optim.state_dict(),
        "scheduler": sched.state_dict(),
        "val_result": 12.5,
    }


def test_save_load_resume_roundtrip(tmp_path):
    cfg, model, optim, sched = _toy()
    model(torch.randn(2, 4)).sum().backward()
    optim.step()
    sched.step()
    save_dir = tmp_path / "prompt_learner"
    save_checkpoint(_state(model, optim, sched, 1), str(save_dir), is_best=True)
    fpath = save_dir / "model.pth.tar-1"
    assert fpath.is_file() and (save_dir / "model-best.pth.tar").is_file()
    assert (save_dir / "checkpoint").read_text().strip() == "model.pth.tar-1"

    raw = torch.load(fpath, map_location="cpu", weights_only=True)
    assert set(raw) == {"state_dict", "epoch", "optimizer", "scheduler", "val_result"}
    ckpt = load_checkpoint(str(fpath))
    assert torch.equal(ckpt["state_dict"]["weight"], model.state_dict()["weight"])

    _, model2, optim2, sched2 = _toy()
    start = resume_from_checkpoint(str(save_dir), model2, optim2, sched2)
    assert start == 1
    assert torch.equal(model2.weight, model.weight)
    assert optim2.state_dict()["state"][0]["momentum_buffer"].equal(
        optim.state_dict()["state"][0]["momentum_buffer"]
    )
    assert sched2.last_epoch == sched.last_epoch
    assert optim2.param_groups[0]["lr"] == optim.param_groups[0]["lr"]


def test_module_prefix_is_stripped(tmp_path):
    state = {"state_dict": {"module.weight": torch.ones(2)}, "epoch": 3}
    save_checkpoint(state, str(tmp_path))
    assert list(load_checkpoint(str(tmp_path / "model.pth.tar-3"))["state_dict"]) == ["weight"]


def test_atomic_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    _, model, optim, sched = _toy()
    save_checkpoint(_state(model, optim, sched, 1), str(tmp_path))
    before = sorted(os.listdir(tmp_path))
    good_weight = model.weight.detach().clone()

    def failing_save(obj, f, *args, **kwargs):
        if hasattr(f, "write"):
            f.write(b"PK\x03\x04 half a checkpoint")
        else:
            with open(f, "wb") as fh:
                fh.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", failing_save)
    with torch.no_grad():
        model.weight.add_(1.0)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(_state(model, optim, sched, 1), str(tmp_path))
    monkeypatch.undo()

    assert sorted(os.listdir(tmp_path)) == before  # no temp file left behind
    ckpt = torch.load(tmp_path / "model.pth.tar-1", map_location="cpu", weights_only=True)
    assert torch.equal(ckpt["state_dict"]["weight"], good_weight)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_checkpoint(str(tmp_path / "nope.pth"))
    bad = tmp_path / "bad.pth.tar"
    bad.write_bytes(b"garbage" * 10)
    with pytest.raises(RuntimeError, match="bad.pth.tar") as exc:
        load_checkpoint(str(bad))
    assert "\n" not in str(exc.value)


# ---- restricted loading of checkpoints that pickle arbitrary objects ------------------------


def _side_effect(path):
    Path(path).write_text("executed")
    return path


class ReducesToSideEffect:
    """Unpickling calls _side_effect(path) under a normal unpickler."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (_side_effect, (self.path,))


class SetstateSideEffect:
    """Unpickling runs __setstate__, which writes a file, under a normal unpickler."""

    def __init__(self, path):
        self.path = path

    def __setstate__(self, state):
        Path(state["path"]).write_text("executed")


class FakeUpstreamCosine:
    """Looks like the pickled CosineAnnealingLR an upstream Dassl checkpoint carries."""

    def __init__(self):
        self.T_max = 5.0
        self.eta_min = 0.0
        self.base_lrs = [0.002]
        self.last_epoch = 3
        self._step_count = 4
        self._last_lr = [0.0006909830056250527]
        self.optimizer = ReducesToSideEffect("/nonexistent/never")


def test_restricted_load_never_runs_foreign_code(tmp_path, monkeypatch):
    mod_marker = tmp_path / "imported.txt"
    mod_dir = tmp_path / "mods"
    mod_dir.mkdir()
    (mod_dir / "evil_mod_dassl_test.py").write_text(
        f"open({str(mod_marker)!r}, 'w').write('imported')\n"
        "class Payload:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(mod_dir))
    import evil_mod_dassl_test  # noqa: E402

    payload = evil_mod_dassl_test.Payload()
    mod_marker.unlink()

    m1, m2 = tmp_path / "reduce.txt", tmp_path / "setstate.txt"
    model = torch.nn.Linear(4, 3)
    fpath = tmp_path / "upstream.pth.tar"
    torch.save(
        {
            "state_dict": model.state_dict(),
            "epoch": 7,
            "optimizer": None,
            "scheduler": {
                "successor": ReducesToSideEffect(str(m1)),
                "other": SetstateSideEffect(str(m2)),
                "payload": payload,
            },
            "val_result": 55.0,
        },
        fpath,
    )
    del sys.modules["evil_mod_dassl_test"]  # still importable from sys.path

    with pytest.raises(Exception):  # noqa: B017 - what torch raises is its business
        torch.load(fpath, map_location="cpu", weights_only=True)

    ckpt = load_checkpoint(str(fpath))
    assert torch.equal(ckpt["state_dict"]["weight"], model.weight.detach())
    assert ckpt["epoch"] == 7 and ckpt["val_result"] == 55.0
    for key in ("successor", "other", "payload"):
        assert isinstance(ckpt["scheduler"][key], InertObject)
    assert not m1.exists() and not m2.exists()
    assert "evil_mod_dassl_test" not in sys.modules and not mod_marker.exists()

    # Control: the same file under plain pickle does run the foreign code.
    shutil.copy(fpath, tmp_path / "copy.pth.tar")
    torch.load(tmp_path / "copy.pth.tar", map_location="cpu", weights_only=False)
    assert m1.exists() and m2.exists()


def test_upstream_style_scheduler_state_is_recovered(tmp_path):
    _, model, optim, sched = _toy()
    state = {k: v for k, v in sched.state_dict().items() if k != "successor"}
    state["successor"] = FakeUpstreamCosine()
    fpath = tmp_path / "model.pth.tar-4"
    torch.save({"state_dict": model.state_dict(), "epoch": 4, "optimizer": optim.state_dict(),
                "scheduler": state}, fpath)
    ckpt = load_checkpoint(str(fpath))
    _, model2, optim2, sched2 = _toy()
    sched2.load_state_dict(ckpt["scheduler"])
    assert sched2.successor.last_epoch == 3
    assert not Path("/nonexistent/never").exists()


def test_load_pretrained_weights_non_strict(tmp_path, capsys):
    src = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    dst = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 5))
    save_checkpoint({"state_dict": src.state_dict(), "epoch": 1}, str(tmp_path))
    load_pretrained_weights(dst, str(tmp_path / "model.pth.tar-1"))
    assert torch.equal(dst[0].weight, src[0].weight)
    out = capsys.readouterr().out
    assert "Successfully loaded" in out and "1.weight" in out


def test_written_files_follow_the_umask(tmp_path):
    _, model, optim, sched = _toy()
    previous = os.umask(0o022)
    try:
        save_checkpoint(_state(model, optim, sched, 1), str(tmp_path), is_best=True)
    finally:
        os.umask(previous)
    for name in ("model.pth.tar-1", "model-best.pth.tar", "checkpoint"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name


def test_disk_full_names_the_file_and_says_so(tmp_path, monkeypatch):
    _, model, optim, sched = _toy()
    fill_the_disk(monkeypatch)
    with pytest.raises(OSError) as info:
        save_checkpoint(_state(model, optim, sched, 1), str(tmp_path))
    message = str(info.value)
    assert message.startswith(f"cannot write {tmp_path / 'model.pth.tar-1'}: the disk is full")
    assert "inline_container" not in message and info.value.errno == errno.ENOSPC
    assert os.listdir(tmp_path) == []


def test_stale_temp_files_of_a_killed_write_are_removed(tmp_path):
    stale = [".model.pth.tar-1.ab12cd34.tmp", ".checkpoint.x_y9z0ab.tmp"]
    for name in [*stale, "model.pth.tar-1", "notes.tmp"]:
        (tmp_path / name).write_bytes(b"")
    assert sorted(tools.remove_stale_temp_files(str(tmp_path))) == sorted(stale)
    assert sorted(os.listdir(tmp_path)) == ["model.pth.tar-1", "notes.tmp"]
