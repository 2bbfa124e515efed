"""ensure_dassl(): an importable upstream ``dassl`` always wins over the bundled engine."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE = (
    "from dassl_fallback import ensure_dassl\n"
    "which = ensure_dassl()\n"
    "import dassl\n"
    "print(which)\n"
    "print(dassl.__file__)\n"
)


def _run(pythonpath):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    proc = subprocess.run(
        [sys.executable, "-c", CODE], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60, check=True,
    )
    return proc.stdout.split()


def test_fake_upstream_wins(tmp_path):
    pkg = tmp_path / "dassl"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("FAKE = True\n")
    which, path = _run(str(tmp_path))
    assert which == "upstream"
    assert os.path.samefile(path, pkg / "__init__.py")


def test_bundled_when_no_upstream():
    which, path = _run("")
    assert which == "bundled"
    assert os.path.samefile(path, os.path.join(ROOT, "dassl_fallback", "dassl", "__init__.py"))
