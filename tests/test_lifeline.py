"""A train.py started by the runner ends when the runner ends, however the runner ends."""

import os
import signal
import subprocess
import sys
import time

import pytest

from launch import lifeline
from tests.helpers import ROOT

FOLLOW = ("import sys, time\nfrom launch.lifeline import follow_runner\n"
          "line = follow_runner()\nprint(line or 'following', flush=True)\n"
          "sys.exit(4) if line else time.sleep(60)\n")

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


def follower(runner_pid, parent_shell=False):
    env = dict(os.environ, **{lifeline.RUNNER_ENV: str(runner_pid)})
    command = [sys.executable, "-c", FOLLOW]
    if parent_shell:  # "; true": bash must stay the parent rather than exec python
        command = ["bash", "-c", 'python_cmd=("$@"); "${python_cmd[@]}"; true', "bash", *command]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def test_no_runner_means_nothing_is_followed(monkeypatch):
    monkeypatch.delenv(lifeline.RUNNER_ENV, raising=False)
    assert lifeline.runner_pid() is None and lifeline.follow_runner() is None


def test_a_job_of_a_runner_that_has_ended_does_not_start():
    gone = subprocess.Popen(["true"])
    gone.wait()
    job = follower(gone.pid)
    out, _ = job.communicate(timeout=60)
    assert job.returncode == 4
    assert f"the runner that started this job (SAR_RUNNER_PID={gone.pid}) has ended" in out


@linux_only
def test_the_job_gets_sigterm_within_seconds_of_a_kill_9_of_its_runner():
    runner = subprocess.Popen(["sleep", "120"])
    job = follower(runner.pid)
    try:
        assert job.stdout.readline().strip() == "following"
        runner.kill()  # SIGKILL; not reaped yet: a zombie counts as ended
        start = time.time()
        assert job.wait(timeout=30) == -signal.SIGTERM
        assert time.time() - start < 10
    finally:
        job.kill()
        runner.wait()


def running(pid):
    """Whether ``pid`` is a live process (a zombie or a missing one is not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


@linux_only
def test_the_job_gets_sigterm_when_its_parent_dies():
    job = follower(os.getpid(), parent_shell=True)  # the runner (here: pytest) stays alive
    python = None
    try:
        assert job.stdout.readline().strip() == "following"
        with open(f"/proc/{job.pid}/task/{job.pid}/children") as f:
            (python,) = map(int, f.read().split())
        os.kill(job.pid, signal.SIGKILL)  # the shell between the runner and train.py
        job.wait(timeout=30)
        deadline = time.time() + 10
        while running(python) and time.time() < deadline:
            time.sleep(0.1)
        assert not running(python), "the job outlived its parent"
    finally:
        job.kill()
        if python and running(python):
            os.kill(python, signal.SIGKILL)
