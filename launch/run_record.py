"""The options a run was asked for, recorded beside it, so that a finished run is reused only
for the very same request.

A finished run counts as done only when its record equals what is asked now: the toy bench
(tools/toy_world/bench.py) writes one per job before starting it, and refuses to serve a
finished run whose record differs or is missing. The record is JSON (``RECORD_NAME`` in a run
folder, or any path a program names), written whole or not at all.
"""

import json
import os
import tempfile

RECORD_NAME = "run_options.json"


def write_record(path, options):
    """Write ``options`` (a JSON-able dict) to ``path``, replacing any earlier record at once."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".run_options.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            json.dump(options, f, indent=1, sort_keys=True)
            f.write("\n")
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_record(path):
    """The recorded options, or None when there is no record; a broken one is refused."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: unreadable run record ({error}); delete it and rerun") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}: a run record must be a JSON object")
    return record


def pairs(opts):
    """KEY VALUE opts as {KEY: VALUE}, the last value of a repeated key winning (as yacs)."""
    return dict(zip(opts[::2], opts[1::2]))


def difference(recorded, asked):
    """None when the record equals the request; else a short text of what differs.

    ``opts`` (a KEY VALUE list) is compared key by key, as the config it makes: the same pairs
    in another order are the same request. Other entries are compared value by value.
    """
    if recorded is None:
        return "no record of the options it ran with"
    changes = []
    for name in sorted(set(recorded) | set(asked)):
        old, new = recorded.get(name), asked.get(name)
        if name == "opts" and isinstance(old, list) and isinstance(new, list):
            old_pairs, new_pairs = pairs(old), pairs(new)
            changes += [f"{key}: recorded {_show(old_pairs.get(key))}, asked "
                        f"{_show(new_pairs.get(key))}"
                        for key in sorted(set(old_pairs) | set(new_pairs))
                        if old_pairs.get(key) != new_pairs.get(key)]
        elif old != new:
            changes.append(f"{name}: recorded {_show(old)}, asked {_show(new)}")
    return "; ".join(changes) or None


def _show(value):
    return "(unset)" if value is None else str(value)
