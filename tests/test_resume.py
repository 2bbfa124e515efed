"""A run killed with SIGKILL and started again ends where an uninterrupted run ends."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.helpers import ROOT, eurosat_setup

EPOCHS = 6


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return eurosat_setup(tmp_path_factory, "resume")


def command(root, clip, out):
    return [
        sys.executable, "train.py", "--root", root, "--seed", "1", "--trainer", "CoOp",
        "--dataset-config-file", "configs/datasets/eurosat.yaml",
        "--config-file", "configs/trainers/CoOp/vit_b16_ctxv1.yaml", "--output-dir", str(out),
        "MODEL.BACKBONE.NAME", clip, "INPUT.SIZE", "(32, 32)", "OPTIM.MAX_EPOCH", str(EPOCHS),
        "DATASET.NUM_SHOTS", "4", "USE_CUDA", "False", "DATALOADER.NUM_WORKERS", "0",
        "DATALOADER.TRAIN_X.BATCH_SIZE", "4", "TRAIN.CHECKPOINT_FREQ", "1",
    ]


def final_state(out):
    path = os.path.join(out, "prompt_learner", f"model.pth.tar-{EPOCHS}")
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]["ctx"]


def final_accuracy(text):
    return re.findall(r"\* accuracy: ([\d.]+)%", text)[-1]


def test_sigkill_then_restart_matches_uninterrupted_run(setup):
    root, clip, base = setup
    reference_out = base / "reference"
    reference = subprocess.run(command(root, clip, reference_out), cwd=ROOT, capture_output=True,
                               text=True, timeout=300)
    assert reference.returncode == 0, reference.stderr[-2000:]

    out = base / "killed"
    first_checkpoint = out / "prompt_learner" / "model.pth.tar-1"
    process = subprocess.Popen(command(root, clip, out), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not first_checkpoint.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (out / "prompt_learner" / f"model.pth.tar-{EPOCHS}").exists()

    resumed = subprocess.run(command(root, clip, out), cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "will resume training" in resumed.stdout
    assert torch.equal(final_state(out), final_state(reference_out))
    assert final_accuracy(resumed.stdout) == final_accuracy(reference.stdout)
