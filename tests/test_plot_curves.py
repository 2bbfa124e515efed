"""Training curves: every logged term reaches TensorBoard when it is installed, a one-line note
replaces it when it is not, and tools/plot_curves.py draws the same terms from the log."""

import os
import sys
from types import SimpleNamespace

import pytest

import train
from plotting import figures as plotting
from tests.helpers import PROMPTSRC_TINY, eurosat_setup, png_size, read_log, train_argv
from tools import plot_curves

# two epochs of 5 batches (2 shots x 5 base classes, batch 2), every batch logged
OPTS = ["DATASET.SUBSAMPLE_CLASSES", "base", "OPTIM.MAX_EPOCH", "2",
        "DATALOADER.TRAIN_X.BATCH_SIZE", "2", "TRAIN.PRINT_FREQ", "1",
        "TRAINER.SAR.NUM_NOVEL", "4", *PROMPTSRC_TINY]
TRAINERS = {
    "KgCoOp_SAR": ("KgCoOp_SAR/vit_b16_ep100_ctxv1", ["loss_ce", "loss_kg", "loss_sar"]),
    "PromptSRC": ("PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx",
                  ["loss_ce", "loss_scl_text", "loss_scl_image", "loss_scl_logits"]),
}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root, clip, base = eurosat_setup(tmp_path_factory, "curves")
    return SimpleNamespace(root=root, clip=clip, base=base)


def run(env, trainer, name):
    out = env.base / name
    assert train.main(train_argv(env.root, env.clip, out, trainer, TRAINERS[trainer][0],
                                 opts=OPTS)) == 0
    return out


def scalars(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}


@pytest.mark.parametrize("trainer", list(TRAINERS))
def test_every_logged_term_accuracy_and_lr_reach_tensorboard(env, trainer):
    pytest.importorskip("tensorboard")
    out = run(env, trainer, f"tb_{trainer}")
    tags = scalars(out)
    curves = plot_curves.read_curves(out / "log.txt")
    terms = TRAINERS[trainer][1]
    assert list(curves) == ["loss", *terms, "acc", "lr"]
    assert {f"train/{name}" for name in curves} | {"test/accuracy"} <= set(tags)
    for name, (steps, _) in curves.items():
        assert steps == list(range(10)), name
        assert [s for s, _ in tags[f"train/{name}"]] == steps, name
    # TensorBoard gets each term's running epoch mean, the curves the iteration's value; the lr
    # is the same number in both
    assert [v for _, v in tags["train/lr"]] == pytest.approx(curves["lr"][1], rel=1e-4)


def test_without_tensorboard_one_line_and_the_curves_from_the_log(env, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    out = run(env, "KgCoOp_SAR", "no_tensorboard")
    notes = [line for line in read_log(out).splitlines() if "TensorBoard" in line]
    assert len(notes) == 1 and "tools/plot_curves.py" in notes[0], notes
    assert not os.path.exists(out / "tensorboard") and "* accuracy:" in read_log(out)
    png = tmp_path / "curves" / "curves.png"
    assert plot_curves.main([str(out), "-o", str(png)]) == 0
    width, height, _, _ = plotting.curves_figure_inches(6)  # loss, 3 terms, acc, lr
    assert png_size(png) == (round(width * plotting.DPI), round(height * plotting.DPI))


def test_a_folder_without_progress_lines_is_one_line(tmp_path, capsys):
    (tmp_path / "log.txt").write_text("* accuracy: 50.0%\n")
    assert plot_curves.main([str(tmp_path), "-o", str(tmp_path / "c.png")]) == 1
    assert plot_curves.main([str(tmp_path / "nothing"), "-o", str(tmp_path / "c.png")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert "no training progress lines" in err[0] and "no log.txt" in err[1]


def test_without_o_the_png_goes_beside_the_log_not_into_the_current_folder(tmp_path,
                                                                            monkeypatch):
    run_dir, cwd = tmp_path / "run", tmp_path / "cwd"
    run_dir.mkdir()
    cwd.mkdir()
    (run_dir / "log.txt").write_text(
        "epoch [1/1] batch [1/2] time 0.1 (0.1) data 0.0 (0.0) loss 1.5 (1.5) acc 50.0 (50.0) "
        "lr 2.0e-03 eta 0:00:01\n"
        "epoch [1/1] batch [2/2] time 0.1 (0.1) data 0.0 (0.0) loss 1.0 (1.2) acc 60.0 (55.0) "
        "lr 2.0e-03 eta 0:00:00\n")
    monkeypatch.chdir(cwd)
    assert plot_curves.main([str(run_dir)]) == 0
    assert (run_dir / "curves.png").is_file() and list(cwd.iterdir()) == []
    assert "RUN_DIR/curves.png" in plot_curves.build_parser().format_help()
