"""Bundled stand-in for Dassl.pytorch, used only when the real package is not installed.

Dassl is not on PyPI, so a fresh environment usually lacks it. ``ensure_dassl()`` makes
``import dassl`` work in that case by appending this folder to the *end* of ``sys.path``,
and only after checking that no other ``dassl`` can be found. An installed upstream Dassl
therefore always wins, and nothing here ever shadows it.
"""

import importlib.util
import os
import sys

FALLBACK_DIR = os.path.dirname(os.path.abspath(__file__))


def ensure_dassl():
    """Make ``import dassl`` resolve; returns "upstream" or "bundled" for the log."""
    if "dassl" in sys.modules:
        return _origin(sys.modules["dassl"])
    if FALLBACK_DIR not in sys.path and importlib.util.find_spec("dassl") is not None:
        return "upstream"
    if FALLBACK_DIR not in sys.path:
        sys.path.append(FALLBACK_DIR)
    import dassl  # noqa: F401

    return _origin(sys.modules["dassl"])


def _origin(module):
    path = os.path.abspath(getattr(module, "__file__", "") or "")
    return "bundled" if path.startswith(FALLBACK_DIR + os.sep) else "upstream"
