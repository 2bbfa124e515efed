"""What the Python command lines share: where the trailing KEY VALUE pairs start, and a help
layout that shows every real default (and no "(default: None)" on a required option).

``scripts/run_experiments.sh`` splits its own arguments the same way in bash (the pairs start
at ``--`` or at the first word that is not an option); the Python programs call ``split_opts``
so that ``--seeds 1 2 3 OPTIM.MAX_EPOCH 50`` and ``--seeds 1 2 3 -- OPTIM.MAX_EPOCH 50`` mean
the same everywhere.
"""

import argparse
import os
import re
import sys

CONFIG_KEY = re.compile(r"[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+")


def split_opts(argv):
    """(flags, KEY VALUE pairs) of a command line.

    The pairs start after a bare ``--`` or at the first config key (``OPTIM.LR``), whichever
    comes first, so they may follow an option that takes several values (``--seeds 1 2 3``),
    where argparse alone would read the key as one more seed.
    """
    argv = list(argv)
    for index, word in enumerate(argv):
        if word == "--":
            return argv[:index], argv[index + 1:]
        if CONFIG_KEY.fullmatch(word):
            return argv[:index], argv[index:]
    return argv, []


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a refusal in one line that names the option and the value (the usage is
    one ``--help`` away), and the help layout below by default."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: X)" where X is a real default: not on required options, flags, or
    options whose default is None (their help says what happens without them)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        hidden = default is None or default is False or default == "" or (
            default == argparse.SUPPRESS)
        if action.required or hidden or "%(default)" in text or not action.option_strings:
            return text
        return f"{text} (default: {show_default(default).replace('%', '%%')})"


def show_default(value):
    """A default as a user types it: "1 2 3" for a list, not "[1, 2, 3]"."""
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return str(value)


def exit_status_into_a_pipe(main):
    """Run ``main()`` and return its exit status; when the reader of stdout leaves early
    (``parse_test_res.py ... | head``), stop quietly with 141 (128 + SIGPIPE), as a Unix
    filter does, instead of a BrokenPipeError traceback."""
    try:
        status = main()
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # Python flushes stdout once more at exit: point it at /dev/null so that flush is silent
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
