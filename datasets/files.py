"""How the dataset caches (split files, few-shot draws, the ImageNet index) are created.

They live on data roots that a lab shares, so a file must get the mode a plain ``open`` gives
(0666 less the umask): ``tempfile.mkstemp`` makes 0600, ``os.replace`` keeps it, and other
users would get "Permission denied". A failed write names the file and, when it is so, says
the disk is full. The bundled engine has the same two rules for checkpoints; it cannot share
this module, as it must stand alone where upstream Dassl is not installed, and datasets must
run on upstream Dassl, which lacks them.
"""

import errno
import os
import secrets

_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def create_temp(folder, basename):
    """A new ``.<basename>.<hex>.tmp`` in ``folder``: ``(fd, path)``, mode 0666 less the umask."""
    for _ in range(100):
        path = os.path.join(folder, f".{basename}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(path, _CREATE_FLAGS, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file for {basename} in {folder}")


def write_failure(path, error):
    """The OSError to raise when writing ``path`` failed with ``error``."""
    if error.errno == errno.ENOSPC:
        reason = "the disk is full (No space left on device)"
    elif error.errno == errno.EDQUOT:
        reason = "the disk quota is exceeded"
    else:
        reason = error.strerror or str(error)
    failure = OSError(f"cannot write {path}: {reason}")  # no "[Errno N]" before the file
    failure.errno = error.errno
    return failure
