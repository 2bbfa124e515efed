"""Small filesystem, seeding and environment helpers shared by the engine and the forks."""

import difflib
import errno
import json
import os
import os.path as osp
import platform
import random
import re
import secrets
import sys
import time
import warnings

import numpy as np
import torch
from PIL import Image

from dassl.utils.registry import check_availability

__all__ = [
    "mkdir_if_missing",
    "check_isfile",
    "read_json",
    "write_json",
    "atomic_write",
    "atomic_write_bytes",
    "remove_stale_temp_files",
    "set_random_seed",
    "download_url",
    "read_image",
    "collect_env_info",
    "listdir_nohidden",
    "get_most_similar_str_to_a_from_b",
    "check_availability",
    "tolist_if_not",
]


def mkdir_if_missing(dirname):
    if dirname:
        os.makedirs(dirname, exist_ok=True)


def check_isfile(fpath):
    """Callers treat a missing file as a soft condition, so warn instead of raising."""
    isfile = osp.isfile(fpath)
    if not isfile:
        warnings.warn(f'No file found at "{fpath}"', stacklevel=2)
    return isfile


def read_json(fpath):
    with open(fpath, encoding="utf-8") as f:
        return json.load(f)


def atomic_write(fpath, write_fn, mode="wb"):
    """Write through a temp file in the target folder so a crash never leaves a torn file.

    The file gets the mode a plain ``open`` would give (0666 less the umask), so checkpoints
    on a shared model folder stay readable to the group; a full disk is reported with the file
    name, where torch.save would only say ``enforce fail at inline_container.cc``.
    """
    dirname = osp.dirname(osp.abspath(fpath))
    mkdir_if_missing(dirname)
    fd, tmp = _create_temp(dirname, osp.basename(fpath))
    try:
        with os.fdopen(fd, mode) as f:
            tracked = _TrackedFile(f)
            try:
                write_fn(tracked)
                f.flush()
                os.fsync(f.fileno())
            except Exception as error:
                cause = tracked.error or error
                if not isinstance(cause, OSError):
                    raise
                failure = OSError(f"cannot write {fpath}: {_reason(cause)}")
                failure.errno = cause.errno
                raise failure from None
        os.replace(tmp, fpath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def _create_temp(dirname, basename):
    """``.<basename>.<random>.tmp``, created as ``open`` would create it: 0666 less the umask
    (``tempfile.mkstemp`` makes 0600, and ``os.replace`` keeps that mode)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = osp.join(dirname, f".{basename}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file for {basename} in {dirname}")


def _reason(error):
    if error.errno == errno.ENOSPC:
        return "the disk is full (No space left on device)"
    if error.errno == errno.EDQUOT:
        return "the disk quota is exceeded"
    return error.strerror or str(error)


class _TrackedFile:
    """A file that remembers the OSError its ``write`` raised: torch.save replaces it with
    its own message, which does not say that the disk is full."""

    def __init__(self, file):
        self._file = file
        self.error = None

    def write(self, data):
        try:
            return self._file.write(data)
        except OSError as error:
            self.error = error
            raise

    def __getattr__(self, name):
        return getattr(self._file, name)


def remove_stale_temp_files(dirname):
    """Remove the temp files of writes that a SIGKILL cut short; returns their names.

    Only names :func:`atomic_write` makes (``.<name>.<hex>.tmp``) are touched.
    """
    removed = []
    for name in os.listdir(dirname) if osp.isdir(dirname) else []:
        if _STALE_TEMP.fullmatch(name):
            os.remove(osp.join(dirname, name))
            removed.append(name)
    return removed


_STALE_TEMP = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")  # mkstemp's names too


def atomic_write_bytes(fpath, data):
    atomic_write(fpath, lambda f: f.write(data), "wb")


def write_json(obj, fpath):
    """Atomic, because split files are shared by concurrent jobs of the scripts."""

    def _dump(f):
        json.dump(obj, f, indent=4, separators=(",", ": "))

    atomic_write(fpath, _dump, "w")


def set_random_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def download_url(url, dst):
    """Fetch ``url`` to ``dst`` without leaving a partial file behind on failure."""
    import urllib.request

    print(f'* url="{url}"')
    print(f'* destination="{dst}"')
    mkdir_if_missing(osp.dirname(osp.abspath(dst)))
    tmp = dst + ".part"
    try:
        urllib.request.urlretrieve(url, tmp)
        os.replace(tmp, dst)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def read_image(path, retries=3):
    """Open an image as RGB; a few retries absorb transient network-filesystem errors."""
    if not osp.exists(path):
        raise FileNotFoundError(f'No image file exists at "{path}"')
    err = None
    for attempt in range(retries):
        try:
            with Image.open(path) as img:
                return img.convert("RGB")
        except Image.DecompressionBombError as e:  # not an OSError; retrying cannot help
            raise OSError(f'Cannot read image "{path}": {e}') from None
        except OSError as e:  # includes PIL.UnidentifiedImageError
            err = e
            if attempt + 1 < retries:
                time.sleep(0.1)
    msg = str(err).splitlines()[0] if str(err) else type(err).__name__
    raise OSError(f'Cannot read image "{path}": {msg}')


def collect_env_info():
    """Versions for the log, without torch's full report: that one shells out (pip, conda,
    nvidia-smi, lscpu) and costs seconds per run."""
    lines = [
        f"Python: {sys.version.split()[0]} ({platform.python_implementation()})",
        f"Platform: {platform.platform()}",
        f"PyTorch: {torch.__version__}",
    ]
    try:
        import torchvision

        lines.append(f"torchvision: {torchvision.__version__}")
    except Exception:  # pragma: no cover - torchvision is a hard dependency elsewhere
        lines.append("torchvision: not available")
    lines.append(f"Pillow: {Image.__version__}")
    lines.append(f"NumPy: {np.__version__}")
    cuda = torch.cuda.is_available()
    lines.append(f"CUDA available: {cuda}")
    if cuda:
        lines.append(f"CUDA (torch build): {torch.version.cuda}")
        for i in range(torch.cuda.device_count()):
            lines.append(f"GPU {i}: {torch.cuda.get_device_name(i)}")
    return "\n".join(lines)


def listdir_nohidden(path, sort=False):
    items = [f for f in os.listdir(path) if not f.startswith(".")]
    if sort:
        items.sort()
    return items


def get_most_similar_str_to_a_from_b(a, b):
    matches = difflib.get_close_matches(a, list(b), n=1, cutoff=0.0)
    return matches[0] if matches else None


def tolist_if_not(x):
    if not isinstance(x, (list, tuple)):
        x = [x]
    return list(x)
