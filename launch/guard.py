"""How train.py stops: one line per failure, the conventional exit code, no half-made folder.

The catalogue in docs/reliability.md promises that every bad input and every fault ends with a
single ``error: ...`` line naming the file, key or value, a non-zero exit status, and no output
folder that looks like a finished or resumable run when it is neither. This module keeps that
promise in one place, so train.py itself stays the upstream command line:

* checks that need nothing but the config (:func:`check_run_inputs`, :func:`check_yaml_file`);
* :func:`run_guarded`, which holds the run folder's writer lock, runs the job, turns any
  exception, Ctrl-C or SIGTERM into one line and exit status 1, 130 or 143, and removes the
  output folder it created when no checkpoint made it resumable; ``SAR_DEBUG=1`` re-raises so
  the traceback is printed as well;
* :func:`one_line`, which digs the culprit out of messages that bury it (DataLoader workers,
  YAML parsers, recursion limits).
"""

import os
import shutil
import signal
import sys

from launch import run_lock

EXIT_ERROR = 1
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + signal number, as shells report
LOG_SUFFIXES = (".txt", ".log")  # setup_logger takes an OUTPUT_DIR with these endings as a file


class UsageError(Exception):
    """Bad input the user can fix; printed as one line, exit status 2."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; a BaseException so no ``except Exception`` swallows it."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def check_run_inputs(cfg, args):
    """Refuse values that would run to the end and then fail, or report a meaningless result."""
    output_dir = cfg.OUTPUT_DIR
    if output_dir.endswith(LOG_SUFFIXES) or os.path.isfile(output_dir):
        raise UsageError(
            f"--output-dir {output_dir} names a file, not a folder (the log, checkpoints "
            "and results are written inside it)"
        )
    training = not (args.eval_only or args.no_train)
    if training and cfg.OPTIM.MAX_EPOCH < 1:
        raise UsageError(f"OPTIM.MAX_EPOCH must be at least 1 to train, got {cfg.OPTIM.MAX_EPOCH}")
    size = tuple(cfg.INPUT.SIZE)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise UsageError(f"INPUT.SIZE must be (height, width) in pixels, got {size}")


def check_yaml_file(path):
    """A YAML config must parse, be a mapping and repeat no key; yacs would print a traceback
    for the first two and silently keep the last of a repeated key."""
    import yaml

    from trainers.yaml_config import DuplicateKeyError, load_yaml

    try:
        data = load_yaml(path)
    except DuplicateKeyError as error:
        raise UsageError(str(error)) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UsageError(f"{path}: YAML syntax error{where}: {problem}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    if data is not None and not isinstance(data, dict):
        raise UsageError(
            f"{path}: the top level must be a mapping of config keys, got a "
            f"{type(data).__name__}"
        )


def one_line(error):
    """The line that names the culprit, for errors whose first line does not."""
    text = str(error).strip()
    if isinstance(error, RecursionError):
        return f"input nested too deeply to read ({text.splitlines()[0] if text else 'recursion'})"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return repr(error)
    if lines[0].startswith("Caught ") and "DataLoader worker" in lines[0]:
        # torch re-raises a worker's error with the worker's traceback as the message: the
        # original message is its last line, after "<ExceptionType>: "
        _type, _, message = lines[-1].partition(": ")
        return message or lines[-1]
    message = lines[0]
    if isinstance(error, KeyError):
        message = message.strip("'\"")
    return message


def holds_a_checkpoint(directory):
    """Whether ``directory`` holds a finished checkpoint, i.e. a run can resume from it."""
    for _root, _dirs, files in os.walk(directory):
        if any(name.startswith("model") and ".pth" in name for name in files):
            return True
    return False


def _raise_interrupted(signum, _frame):
    raise Interrupted(signum)


def _remove_if_unfinished(output_dir, created):
    """Remove the folder this run made unless a checkpoint makes it resumable; say which."""
    if not (created and os.path.isdir(output_dir)):
        return ""
    if holds_a_checkpoint(output_dir):
        return f"; {output_dir} holds a checkpoint: the same command resumes from it"
    shutil.rmtree(output_dir, ignore_errors=True)
    return ""


def run_guarded(job, output_dir, lock=False):
    """Run ``job()``; return the exit status, printing one line for any failure or signal.

    ``lock``: hold ``output_dir``'s writer lock (launch/run_lock.py) from before the job until
    after the cleanup, so no second writer starts in a folder this run may still remove.
    A folder another process holds is refused, and never cleaned up from here.
    """
    created = not os.path.exists(output_dir)
    try:
        held = run_lock.acquire(output_dir) if lock else None
    except run_lock.FolderBusy as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as error:
        print(f"error: cannot create {output_dir}: {error.strerror}", file=sys.stderr)
        return EXIT_ERROR
    try:
        return _run_signalled(job, output_dir, created)
    finally:
        run_lock.release(held)


def _run_signalled(job, output_dir, created):
    previous = signal.getsignal(signal.SIGTERM)
    in_main_thread = _in_main_thread()
    if in_main_thread:
        signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        job()
        return 0
    except (KeyboardInterrupt, Interrupted) as error:
        signum = getattr(error, "signum", signal.SIGINT)
        kept = _remove_if_unfinished(output_dir, created)
        print(f"error: interrupted by {signal.Signals(signum).name}{kept}", file=sys.stderr)
        if os.environ.get("SAR_DEBUG"):
            raise
        return EXIT_CODES[signum]
    except Exception as error:
        _remove_if_unfinished(output_dir, created)
        hint = "" if isinstance(error, UsageError) else " (SAR_DEBUG=1 shows the traceback)"
        print(f"error: {one_line(error)}{hint}", file=sys.stderr)
        if os.environ.get("SAR_DEBUG"):
            raise
        return EXIT_ERROR
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _in_main_thread():
    import threading

    return threading.current_thread() is threading.main_thread()
