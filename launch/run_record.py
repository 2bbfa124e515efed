"""What a finished run was asked to do, read back from its log, and whether a new request matches.

A run folder that holds a result is only "done" for a request that asks for the same run: after
``... OPTIM.MAX_EPOCH 50`` a request for ``OPTIM.MAX_EPOCH 5`` must not be answered with the
50-epoch numbers. train.py prints its command line (the ``** Arguments **`` block) at the top
of every log, so the record needs no extra file and covers runs made before this check existed.

Compared: the trainer, seed, evaluation flags, the config files (by their last two path parts,
so a moved repository or config root is the same run) and the KEY VALUE opts (last value per
key wins, as yacs merges them). Not compared: where the data, output, resume and model folders
are, and opts that cannot change a number (:data:`NEUTRAL_OPTS`). An edited YAML under the same
name is not seen; name the edit with EXP_TAG.

The experiment scripts ask through ``tools/check_run_options.py``. The toy bench's jobs (a
train script and a test script each) also keep a JSON record of the whole bench request
(:func:`write_record`, :func:`record_difference`), since a request there is more than one
train.py command line.
"""

import ast
import glob
import json
import os
import tempfile

ARGUMENTS_HEADER = "** Arguments **"
# train.py's flags as its parser records them, with the value it prints when a flag is not given.
DEFAULTS = {
    "trainer": "", "seed": "-1", "config_file": "", "dataset_config_file": "", "backbone": "",
    "head": "", "eval_only": "False", "no_train": "False", "load_epoch": "None",
    "transforms": "None", "source_domains": "None", "target_domains": "None",
}
LIST_FLAGS = {"transforms", "source_domains", "target_domains"}  # nargs="+"
SWITCHES = {"eval_only", "no_train"}
FILE_FLAGS = {"config_file", "dataset_config_file"}
# Opts that decide where or how fast, never what: the frozen-feature cache of a sweep.
NEUTRAL_OPTS = {"TEST.FEATURE_CACHE"}


def newest_log(run_dir):
    """The log the newest run in ``run_dir`` wrote: log.txt, or the latest log.txt-<time> that a
    re-run beside it wrote (the timestamps sort in time order); None when there is none."""
    logs = sorted(glob.glob(os.path.join(glob.escape(run_dir), "log.txt-*")))
    candidates = [os.path.join(run_dir, "log.txt")] + logs
    existing = [path for path in candidates if os.path.isfile(path)]
    return existing[-1] if existing else None


def recorded_arguments(log_path):
    """{flag: printed value} from the ``** Arguments **`` block of a train.py log; None when the
    log has no such block (not written by train.py, or cut before it)."""
    values, inside = {}, False
    with open(log_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.strip() == ARGUMENTS_HEADER:
                inside, values = True, {}
            elif inside and line and set(line) == {"*"}:
                if values:  # the row of stars that closes the block
                    return values
            elif inside and ":" in line:
                key, _, value = line.partition(":")
                values[key.strip()] = value.strip()
    return values or None


def asked_arguments(argv):
    """train.py's argv as the same {flag: printed value} map, its trailing opts under "opts"."""
    values, i = {"opts": "[]"}, 0
    while i < len(argv) and argv[i].startswith("--"):
        name, _, inline = argv[i][2:].partition("=")
        name = name.replace("-", "_")
        i += 1
        if name in SWITCHES:
            values[name] = "True"
        elif name in LIST_FLAGS:
            items = [inline] if inline else []
            while i < len(argv) and not argv[i].startswith("--"):
                items.append(argv[i])
                i += 1
            values[name] = repr(items)
        elif inline:
            values[name] = inline
        elif i < len(argv):
            values[name] = argv[i]
            i += 1
    values["opts"] = repr(argv[i:])
    return values


def _opts_map(printed):
    try:
        opts = ast.literal_eval(printed) if printed not in ("", "None") else []
    except (ValueError, SyntaxError):
        return {"<unreadable opts>": printed}
    if not isinstance(opts, list):
        return {"<unreadable opts>": printed}
    pairs = {str(key): str(value) for key, value in zip(opts[::2], opts[1::2])}
    return {key: value for key, value in pairs.items() if key not in NEUTRAL_OPTS}


def _flag_value(values, name):
    value = values.get(name, DEFAULTS[name])
    if name in FILE_FLAGS and value:
        return "/".join(value.replace(os.sep, "/").split("/")[-2:])
    return value


def differences(recorded, asked):
    """What differs between two {flag: value} maps, one "what: there X, asked Y" per item."""
    found = []
    for name in DEFAULTS:
        there, wanted = _flag_value(recorded, name), _flag_value(asked, name)
        if there != wanted:
            found.append(f"--{name.replace('_', '-')}: there {there or '-'}, asked {wanted or '-'}")
    there, wanted = _opts_map(recorded.get("opts", "[]")), _opts_map(asked.get("opts", "[]"))
    for key in sorted(set(there) | set(wanted)):
        if there.get(key) != wanted.get(key):
            found.append(f"{key}: there {there.get(key, '(not set)')}, "
                         f"asked {wanted.get(key, '(not set)')}")
    return found


def run_differences(run_dir, argv):
    """Why the newest run in ``run_dir`` is not the run ``argv`` asks for ([] when it is)."""
    log = newest_log(run_dir)
    if log is None:
        return [f"no log.txt in {run_dir}"]
    recorded = recorded_arguments(log)
    if recorded is None:
        return [f"{log} records no train.py arguments"]
    return differences(recorded, asked_arguments(argv))


# ---- the toy bench's job records ------------------------------------------------------------

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


def record_difference(recorded, asked):
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
