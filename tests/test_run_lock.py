"""One writer per run folder: a live holder is named, a dead one's lock never blocks."""

import os
import subprocess
import sys

import pytest

from launch import run_lock
from tests.helpers import ROOT

TRY_LOCK = ("import sys; from launch import run_lock\n"
            "try:\n    run_lock.acquire(sys.argv[1])\n"
            "except run_lock.FolderBusy as e:\n    print(e); sys.exit(3)\n")


def try_from_another_process(folder):
    return subprocess.run([sys.executable, "-c", TRY_LOCK, str(folder)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_a_held_folder_is_refused_naming_the_holder_and_freed_on_release(tmp_path):
    folder = tmp_path / "run"
    held = run_lock.acquire(str(folder))
    try:
        busy = try_from_another_process(folder)
        assert busy.returncode == 3
        assert f"being written by another train.py (PID {os.getpid()})" in busy.stdout
    finally:
        run_lock.release(held)
    assert try_from_another_process(folder).returncode == 0


def test_the_lock_file_of_a_dead_holder_does_not_block(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / run_lock.LOCK_NAME).write_text("999999\n")  # left by a process that is gone
    held = run_lock.acquire(str(folder))
    assert (folder / run_lock.LOCK_NAME).read_text() == f"{os.getpid()}\n"
    run_lock.release(held)


@pytest.mark.skipif(run_lock.fcntl is None, reason="no flock here")
def test_two_handles_in_one_process_exclude_each_other(tmp_path):
    held = run_lock.acquire(str(tmp_path))
    with pytest.raises(run_lock.FolderBusy, match=f"PID {os.getpid()}"):
        run_lock.acquire(str(tmp_path))
    run_lock.release(held)
