"""Benchmark: how long loading the cached ImageNet index (imagenet/preprocessed.json) takes.

Writes a synthetic index with ImageNet-1k's sizes (1,281,167 train and 50,000 val entries in
1000 classes; no images are needed), then times, best of ``--repeat`` runs:

* ``json``: parsing the file (``datasets.imagenet.load_index``);
* ``datums``: turning it into Datum lists (``datasets.imagenet.index_to_items``);
* ``total``: both, i.e. what ImageNet pays per run before few-shot selection.

For comparison it also times the generic split-file format (``[[relpath, label, classname]]``
rows via ``datasets.coop_format.read_split``) holding the same entries.

    python tools/bench_imagenet_index.py [--dir /tmp/bench] [--repeat 3]
"""

import argparse
import gc
import os
import platform
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from dassl_fallback import ensure_dassl  # noqa: E402

ensure_dassl()

from datasets.coop_format import read_split, relative_path, write_json_atomic  # noqa: E402
from datasets.imagenet import INDEX_VERSION, index_to_items, load_index  # noqa: E402

NUM_TRAIN, NUM_VAL, NUM_CLASSES = 1_281_167, 50_000, 1000


def synthetic_index():
    folders = [f"n{1440764 + 1000 * i:08d}" for i in range(NUM_CLASSES)]
    base, extra = divmod(NUM_TRAIN, NUM_CLASSES)
    train = [
        [f"{wnid}_{j}.JPEG" for j in range(base + (1 if i < extra else 0))]
        for i, wnid in enumerate(folders)
    ]
    per_val = NUM_VAL // NUM_CLASSES
    test = [
        [f"ILSVRC2012_val_{i * per_val + j + 1:08d}.JPEG" for j in range(per_val)]
        for i in range(NUM_CLASSES)
    ]
    index = {"version": INDEX_VERSION, "folders": folders, "train": train, "test": test}
    classnames = {wnid: f"class {i}" for i, wnid in enumerate(folders)}
    return index, classnames


def best_of(repeat, fn):
    """Best wall time of ``repeat`` runs (each from a collected heap) and the last result."""
    times, result = [], None
    for _ in range(repeat):
        result = None  # drop the previous result before timing the next run
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        image_dir = os.path.join(tmp, "imagenet", "images")
        index, classnames = synthetic_index()
        path = os.path.join(tmp, "imagenet", "preprocessed.json")
        write_json_atomic(index, path)
        size_mb = os.path.getsize(path) / 2**20

        t_json, loaded = best_of(args.repeat, lambda: load_index(path))
        t_items, (train, test) = best_of(
            args.repeat, lambda: index_to_items(loaded, image_dir, classnames)
        )
        t_total, _ = best_of(
            args.repeat, lambda: index_to_items(load_index(path), image_dir, classnames)
        )
        assert len(train) == NUM_TRAIN and len(test) == NUM_VAL

        rows = {"train": [], "val": [], "test": []}
        for split, items in (("train", train), ("test", test)):
            rows[split] = [
                [relative_path(it.impath, image_dir), it.label, it.classname] for it in items
            ]
        split_path = os.path.join(tmp, "split_rows.json")
        write_json_atomic(rows, split_path)
        split_mb = os.path.getsize(split_path) / 2**20
        t_rows, _ = best_of(args.repeat, lambda: read_split(split_path, image_dir))

    print(f"python {platform.python_version()} on {platform.machine()}, best of {args.repeat}")
    print(f"ImageNet index: {NUM_TRAIN:,} train + {NUM_VAL:,} val entries, {size_mb:.1f} MiB")
    print(f"  json   {t_json:6.2f} s")
    print(f"  datums {t_items:6.2f} s")
    print(f"  total  {t_total:6.2f} s")
    print(f"Same entries as [[relpath, label, classname]] rows: {split_mb:.1f} MiB, "
          f"{t_rows:.2f} s to load")
    return 0


if __name__ == "__main__":
    sys.exit(main())
