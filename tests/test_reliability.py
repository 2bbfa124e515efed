"""Faults and bad inputs: each stops with one clear line, non-zero, and leaves no partial output."""

import os

import pytest
import torch

import train
from tests.helpers import COOP, EUROSAT, TINY_OPTS, eurosat_setup
from trainers.base import PromptTrainer


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root, clip, base = eurosat_setup(tmp_path_factory, "reliability")
    trained = base / "trained"
    code = train.main(["--root", root, *COOP, *EUROSAT, "--output-dir", str(trained), "--seed", "1",
                       "MODEL.BACKBONE.NAME", clip, *TINY_OPTS])
    assert code == 0
    return root, clip, trained


def last_error(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines, "no error printed"
    return lines[-1]


def test_unknown_dataset(setup, capsys, tmp_path):
    root, clip, _ = setup
    code = train.main(["--root", root, *COOP, "--output-dir", str(tmp_path / "o"),
                       "DATASET.NAME", "EuroSet", "MODEL.BACKBONE.NAME", clip, *TINY_OPTS])
    assert code != 0
    line = last_error(capsys)
    assert "EuroSet" in line and "EuroSAT" in line
    assert not (tmp_path / "o").exists()


def test_nan_loss_stops_with_epoch_batch_and_term_and_keeps_checkpoint(setup, capsys, tmp_path,
                                                                       monkeypatch):
    root, clip, _ = setup
    original = PromptTrainer.compute_loss

    def poisoned(self, image, label, extra_classes=None):
        terms, output = original(self, image, label, extra_classes)
        if self.epoch == 1:
            terms["loss_ce"] = terms["loss_ce"] * float("nan")
        return terms, output

    monkeypatch.setattr(PromptTrainer, "compute_loss", poisoned)
    out = tmp_path / "nan"
    code = train.main(["--root", root, *COOP, *EUROSAT, "--output-dir", str(out), "--seed", "1",
                       "MODEL.BACKBONE.NAME", clip, *TINY_OPTS, "OPTIM.MAX_EPOCH", "3",
                       "TRAIN.CHECKPOINT_FREQ", "1"])
    assert code != 0
    line = last_error(capsys)
    assert "epoch 2" in line and "batch 1" in line and "loss_ce" in line
    kept = out / "prompt_learner" / "model.pth.tar-1"
    assert torch.load(kept, weights_only=True)["epoch"] == 1
    assert not (out / "prompt_learner" / "model.pth.tar-2").exists()


def test_corrupt_checkpoint(setup, capsys, tmp_path):
    root, clip, trained = setup
    broken = tmp_path / "broken"
    (broken / "prompt_learner").mkdir(parents=True)
    (broken / "prompt_learner" / "model.pth.tar-1").write_bytes(b"\x00garbage")
    code = train.main(["--root", root, *COOP, *EUROSAT, "--output-dir", str(tmp_path / "o"),
                       "--eval-only", "--model-dir", str(broken), "--load-epoch", "1",
                       "MODEL.BACKBONE.NAME", clip, *TINY_OPTS])
    assert code != 0
    assert "model.pth.tar-1" in last_error(capsys)
    assert not (tmp_path / "o").exists()


def test_missing_epoch_names_the_file(setup, capsys, tmp_path):
    root, clip, trained = setup
    code = train.main(["--root", root, *COOP, *EUROSAT, "--output-dir", str(tmp_path / "o"),
                       "--eval-only", "--model-dir", str(trained), "--load-epoch", "9",
                       "MODEL.BACKBONE.NAME", clip, *TINY_OPTS])
    assert code != 0
    assert os.path.join("prompt_learner", "model.pth.tar-9") in last_error(capsys)


def test_mismatched_checkpoint_names_parameter_and_shapes(setup, capsys, tmp_path):
    root, clip, trained = setup
    code = train.main(["--root", root, *COOP, *EUROSAT, "--output-dir", str(tmp_path / "o"),
                       "--eval-only", "--model-dir", str(trained), "--load-epoch", "1",
                       "MODEL.BACKBONE.NAME", clip, *TINY_OPTS, "TRAINER.COOP.CTX_INIT", "''",
                       "TRAINER.COOP.N_CTX", "8"])
    assert code != 0
    line = last_error(capsys)
    assert "ctx" in line and "(4, 64)" in line and "(8, 64)" in line


def test_checkpoints_load_with_weights_only(setup):
    _, _, trained = setup
    state = torch.load(trained / "prompt_learner" / "model.pth.tar-1", weights_only=True)
    assert set(state) >= {"state_dict", "epoch", "optimizer", "scheduler"}


@pytest.mark.parametrize("file_name,content", [
    ("bank.json", '{"classes": ['),  # malformed JSON
    ("bank.txt", "# nothing but a comment\nForest\n"),  # empty once EuroSAT's class is dropped
], ids=["malformed", "empty-after-leak-guard"])
def test_bad_novel_bank_names_the_file(setup, capsys, tmp_path, file_name, content):
    root, clip, _ = setup
    bank = tmp_path / file_name
    bank.write_text(content)
    out = tmp_path / "o"
    code = train.main(["--root", root, "--trainer", "CoOp_SAR", *EUROSAT, "--config-file",
                       "configs/trainers/CoOp_SAR/vit_b16_ctxv1.yaml", "--output-dir", str(out),
                       "MODEL.BACKBONE.NAME", clip, *TINY_OPTS,
                       "TRAINER.SAR.NOVEL_SOURCE", str(bank)])
    assert code != 0
    assert file_name in last_error(capsys)
    assert not out.exists()


def test_upstream_checkpoint_with_pickled_scheduler_loads_weights_only(setup, tmp_path, capsys):
    """Upstream Dassl pickles the warm-up scheduler's successor object; we never run it."""
    root, clip, trained = setup
    state = torch.load(trained / "prompt_learner" / "model.pth.tar-1", weights_only=True)
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.002)
    upstream = dict(state, scheduler={"successor": torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, 10), "last_epoch": 1}, optimizer=optimizer.state_dict())
    model_dir = tmp_path / "upstream"
    (model_dir / "prompt_learner").mkdir(parents=True)
    torch.save(upstream, model_dir / "prompt_learner" / "model.pth.tar-1")
    with pytest.raises(Exception):  # noqa: B017  (the plain safe load refuses the pickled object)
        torch.load(model_dir / "prompt_learner" / "model.pth.tar-1", weights_only=True)
    out = tmp_path / "eval"
    code = train.main(["--root", root, *COOP, *EUROSAT, "--output-dir", str(out), "--eval-only",
                       "--model-dir", str(model_dir), "--load-epoch", "1",
                       "MODEL.BACKBONE.NAME", clip, *TINY_OPTS])
    assert code == 0
    assert "* accuracy:" in (out / "log.txt").read_text()
