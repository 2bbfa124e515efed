import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from dassl_fallback import ensure_dassl  # noqa: E402

ensure_dassl()


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    """The pretrained toy CLIP and world 0, built once per test session (a few seconds)."""
    from tests.helpers import toy_world_setup

    return toy_world_setup(tmp_path_factory)
