"""A train.py started by the experiment runner ends when the runner ends.

``scripts/run_experiments.sh`` exports ``SAR_RUNNER_PID``, its own PID. A ``kill -9`` of the
runner cannot be trapped, and its jobs run in process groups of their own (the GPU pool) or
under shells that outlive it, so nothing else would stop them: an orphaned train.py would keep
writing its folder while a rerun of the runner started a second writer there. Under the
runner, train.py therefore

* asks the kernel for SIGTERM when its parent process dies (``PR_SET_PDEATHSIG``, Linux), and
* watches the runner's PID from a daemon thread and, once it is gone, sends itself SIGTERM,

so the run stops the usual way (launch/guard.py: exit 143, the folder kept if a checkpoint
makes it resumable). A job the dead runner would start next refuses at once.
"""

import ctypes
import os
import signal
import sys
import threading
import time

RUNNER_ENV = "SAR_RUNNER_PID"
PR_SET_PDEATHSIG = 1
POLL_SECONDS = 1.0


def runner_pid():
    """The runner's PID from the environment, or None when train.py runs on its own."""
    text = os.environ.get(RUNNER_ENV, "").strip()
    return int(text) if text.isdigit() and int(text) > 1 else None


def follow_runner():
    """Tie this process to the runner that started it; returns an error line if the runner
    has already ended (the job must not start), else None."""
    pid = runner_pid()
    if pid is None:
        return None
    identity = _process_identity(pid)
    if identity is None:
        return f"the runner that started this job ({RUNNER_ENV}={pid}) has ended; not starting"
    _die_with_parent()
    watcher = threading.Thread(target=_watch, args=(pid, identity), name="runner-lifeline",
                               daemon=True)
    watcher.start()
    return None


def _watch(pid, identity):
    while _process_identity(pid) == identity:
        time.sleep(POLL_SECONDS)
    print(f"The runner (PID {pid}) that started this job has ended: stopping", file=sys.stderr)
    os.kill(os.getpid(), signal.SIGTERM)


def _process_identity(pid):
    """Something that changes when ``pid`` ends or is reused: its start time where /proc
    exists, else just "alive"; None when no such process is running."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return None if fields[0] == b"Z" else fields[19]  # state, ..., starttime (field 22)
    except FileNotFoundError:
        return None
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return "alive"


def _die_with_parent():
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # the watcher thread still stops the run
