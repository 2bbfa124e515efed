"""Tee stdout/stderr into the run's log file, the file parse_test_res.py reads."""

import os.path as osp
import sys
import time

from dassl.utils.tools import mkdir_if_missing

__all__ = ["Logger", "setup_logger"]


class Logger:
    """A stream that writes to the console stream and to a shared log file."""

    def __init__(self, stream, file):
        self.console = stream
        self.file = file

    def write(self, msg):
        self.console.write(msg)
        if not self.file.closed:
            self.file.write(msg)

    def flush(self):
        self.console.flush()
        if not self.file.closed:
            self.file.flush()

    def isatty(self):
        return False

    def __getattr__(self, name):
        # fileno(), encoding, ... come from the real console stream
        if name in ("console", "file"):
            raise AttributeError(name)
        return getattr(self.console, name)


class LogHandle:
    """Returned by setup_logger so a process (or a test) can stop logging and restore streams."""

    def __init__(self, path, file):
        self.path = path
        self.file = file

    def close(self):
        for attr in ("stdout", "stderr"):
            stream = getattr(sys, attr)
            if isinstance(stream, Logger) and stream.file is self.file:
                setattr(sys, attr, stream.console)
        if not self.file.closed:
            self.file.close()


_current = None


def setup_logger(output=None):
    """Start logging to ``output/log.txt`` (or ``output`` if it names a .txt/.log file).

    An existing log is never overwritten: the new one gets a ``-<YYYY-mm-dd-HH-MM-SS>`` suffix.
    Calling it again in the same process replaces the previous tee instead of nesting it.
    """
    global _current
    if output is None:
        return None
    if output.endswith(".txt") or output.endswith(".log"):
        fpath = output
    else:
        fpath = osp.join(output, "log.txt")
    if osp.exists(fpath):
        base = fpath + time.strftime("-%Y-%m-%d-%H-%M-%S")
        fpath, n = base, 1
        while osp.exists(fpath):
            fpath = f"{base}-{n}"
            n += 1
    mkdir_if_missing(osp.dirname(osp.abspath(fpath)))
    if _current is not None:
        _current.close()
    file = open(fpath, "w", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives for the run
    sys.stdout = Logger(sys.stdout, file)
    sys.stderr = Logger(sys.stderr, file)
    _current = LogHandle(fpath, file)
    return _current
