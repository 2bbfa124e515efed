"""One writer per run folder: an exclusive lock on ``<OUTPUT_DIR>/.train.lock``.

Two train.py processes on one folder (a rerun started while a killed runner's job still
trains) would interleave checkpoints and logs, and the one that fails first would remove the
folder under the other. ``flock`` is released by the kernel when its holder dies, however it
dies (SIGKILL included), so a stale lock file never blocks a rerun. The file holds the
holder's PID, which the refusal names. Linux and macOS; elsewhere there is no lock.
"""

import os

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None

LOCK_NAME = ".train.lock"


class FolderBusy(Exception):
    """Another live process holds the folder's lock; the message names its PID."""


def acquire(output_dir):
    """Create ``output_dir`` if needed and lock it; returns the handle for :func:`release`."""
    if fcntl is None:
        return None
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, LOCK_NAME)
    for _ in range(10):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise FolderBusy(
                f"{output_dir} is being written by another train.py ({holder}); one writer "
                "per run folder: wait for it to end or stop it, then run the same command again"
            ) from None
        if _same_file(fd, path):  # not a file a finishing holder removed meanwhile
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)
    raise FolderBusy(f"{output_dir}: its lock file keeps being replaced; is another job racing?")


def release(handle):
    """Unlock (closing the file is enough: the lock belongs to the open file)."""
    if handle is not None:
        os.close(handle)


def _holder(fd):
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return f"PID {text}" if text.isdigit() else "PID unknown"


def _same_file(fd, path):
    try:
        held, named = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)
