"""Check a prepared data root: load every dataset found and print classes and image counts.

    python tools/check_data_root.py --root $DATA
    python tools/check_data_root.py --root $DATA --datasets ImageNet dtd --num-shots 16 --seed 1

Datasets are named by their registered name (``DescribableTextures``) or their config file
stem (``dtd``). Without ``--datasets`` every dataset whose folder exists under the root is
loaded and absent ones are listed as "not found"; a dataset named explicitly must exist. Each
broken dataset gets one line saying why; the exit status is 1 if any is broken (or none is
found), else 0.

It writes nothing to the root: a dataset without its CoOp split file is loaded from a split
built in memory and reported as "no CoOp split file: a random split would be built" (training
would build and save one, and results on it do not compare with published ones); few-shot
samples and the ImageNet listing are drawn or listed in memory, not cached.
"""

import argparse
import contextlib
import io
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from dassl_fallback import ensure_dassl  # noqa: E402

ensure_dassl()

from tabulate import tabulate  # noqa: E402

from dassl.data.datasets import DATASET_REGISTRY  # noqa: E402
from datasets import DATASET_CONFIGS, DATASET_NAMES  # noqa: E402
from datasets.coop_format import DatasetError, dataset_cfg  # noqa: E402

HEADERS = ["dataset", "folder", "classes", "train", "val", "test", "status"]
NO_SPLIT_STATUS = "no split file"


def resolve_names(names):
    """Registered names for ``names`` (registered names or config stems, any case)."""
    lookup = {n.lower(): n for n in DATASET_NAMES}
    lookup.update({stem.lower(): n for stem, n in DATASET_CONFIGS.items()})
    resolved = []
    for name in names:
        if name.lower() not in lookup:
            raise SystemExit(f"Unknown dataset {name!r}; choose from {list(DATASET_NAMES)}")
        resolved.append(lookup[name.lower()])
    return resolved


def check_dataset(root, name, num_shots=-1, seed=-1, verbose=False):
    """Load one dataset read-only; returns ``(row, error, notes)``, ``error`` None or one line,
    ``notes`` what a training run would have written (a built split)."""
    cls = DATASET_REGISTRY.get(name)
    cfg = dataset_cfg(root, name, num_shots=num_shots, seed=seed, read_only=True)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(sys.stdout if verbose else out):
            ds = cls(cfg)
    except DatasetError as exc:
        return [name, cls.folder, "", "", "", "", "BROKEN"], str(exc), []
    except Exception as exc:  # report anything else on one line too
        line = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return [name, cls.folder, "", "", "", "", "BROKEN"], line, []
    counts = [len(ds.train_x) if not ds.test_only else "-"]
    counts.append(len(ds.val) if ds.val is not None else "-")
    counts.append(len(ds.test))
    status = NO_SPLIT_STATUS if ds.notes else "ok"
    return [name, cls.folder, len(ds.all_classnames), *counts, status], None, ds.notes


def data_roots_below(root):
    """{subfolder: dataset folders in it} for the subfolders of ``root`` that are data roots
    themselves: a --root one level too high is the likeliest slip."""
    folders = sorted({DATASET_REGISTRY.get(n).folder for n in DATASET_NAMES})
    below = {}
    for entry in sorted(os.listdir(root)):
        sub = os.path.join(root, entry)
        if os.path.isdir(sub) and not entry.startswith("."):
            found = [f for f in folders if os.path.isdir(os.path.join(sub, f))]
            if found:
                below[sub] = found
    return below


def say_data_roots_below(root, found):
    """One line per subfolder that is a data root holding more datasets than ``root`` does."""
    lines = [f"{sub} is a data root ({len(names)} dataset folder{'s' * (len(names) > 1)}: "
             f"{', '.join(names)}): "
             f"did you mean --root {sub}?"
             for sub, names in data_roots_below(root).items() if len(names) > found]
    for line in lines:
        print(line)
    return bool(lines)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="the data root (DATASET.ROOT)")
    parser.add_argument("--datasets", nargs="+", default=None, help="names or config stems")
    parser.add_argument("--num-shots", type=int, default=-1,
                        help="also build the few-shot selection (default: full splits)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the few-shot selection")
    parser.add_argument("--verbose", action="store_true", help="show the loaders' output")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)

    root = os.path.abspath(os.path.expanduser(args.root))
    if not os.path.isdir(root):
        print(f"Data root not found: {root} (see DATASETS.md)")
        return 1
    explicit = args.datasets is not None
    names = resolve_names(args.datasets) if explicit else list(DATASET_NAMES)

    rows, errors, notes, found = [], [], [], 0
    for name in names:
        folder = DATASET_REGISTRY.get(name).folder
        if not explicit and not os.path.isdir(os.path.join(root, folder)):
            rows.append([name, folder, "", "", "", "", "not found"])
            continue
        found += 1
        row, error, ds_notes = check_dataset(root, name, args.num_shots, args.seed, args.verbose)
        rows.append(row)
        if error:
            errors.append(f"BROKEN {name}: {error}")
        notes.extend(f"NOTE {name}: {note} (results on it do not compare with published ones; "
                     "see DATASETS.md)" for note in ds_notes)

    if not found and not explicit and say_data_roots_below(root, 0):
        return 1  # the root is one level too high: no table of "not found" rows
    print(tabulate(rows, headers=HEADERS))
    for line in errors + notes:
        print(line)
    if not found:
        print(f"No dataset folder found under {root} (see DATASETS.md)")
        return 1
    if not explicit and found < len(names):
        say_data_roots_below(root, found)
    ok = found - len(errors)
    print(f"{ok} of {found} datasets found under {root} load cleanly")
    if notes:
        print(f"{len(notes)} of them have no CoOp split file")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
