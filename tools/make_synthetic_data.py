"""Write a tiny synthetic data root in the exact on-disk layout of the 15 CoOp datasets.

Every dataset gets its real folder and file names (split_zhou_*.json where upstream ships one,
FGVC-Aircraft's txt files, Oxford Flowers' imagelabels.mat and cat_to_name.json, ImageNet's
classnames.txt with real wnids, ...), a handful of real class names (the first classes of the
real dataset) and small JPEG images whose colour and stripe pattern depend on the class, so a
model can learn them a little. It runs in a few seconds and needs only numpy, Pillow and scipy.

    python tools/make_synthetic_data.py --root /tmp/coop_data
    python tools/make_synthetic_data.py --root /tmp/coop_data --datasets eurosat dtd
    python tools/make_synthetic_data.py --root /tmp/coop_data --datasets DescribableTextures \\
        --omit-splits DescribableTextures --num-classes 4 --train 16 --val 4 --test 4

Python: ``write_synthetic_root(root, ...)`` returns ``{dataset name: class names by label}``.
"""

import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dassl_fallback import ensure_dassl  # noqa: E402

ensure_dassl()  # the datasets package registers with Dassl on import

from datasets.synthetic import IMAGES_PER_CLASS, WRITERS, write_synthetic_root  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASET_CONFIG_DIR = os.path.join(REPO, "configs", "datasets")


def config_stems(config_dir=DATASET_CONFIG_DIR):
    """``{config stem: registered name}`` read from ``configs/datasets/*.yaml``, so that
    ``eurosat`` names EuroSAT here as it does for train.py, the scripts and the other tools."""
    stems = {}
    for file_name in sorted(os.listdir(config_dir)) if os.path.isdir(config_dir) else []:
        if file_name.endswith(".yaml"):
            with open(os.path.join(config_dir, file_name), encoding="utf-8") as f:
                match = re.search(r"^\s*NAME:\s*[\"']?(\w+)", f.read(), re.MULTILINE)
            if match:
                stems[file_name[: -len(".yaml")]] = match.group(1)
    return stems


def resolve_names(names, flag):
    """Registered names for ``names``: registered names or config stems, in any case."""
    lookup = {name.lower(): name for name in WRITERS}
    lookup.update({stem.lower(): name for stem, name in config_stems().items() if name in WRITERS})
    unknown = [name for name in names if name.lower() not in lookup]
    if unknown:
        raise SystemExit(
            f"error: {flag}: unknown dataset {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(WRITERS)} or their config stems ({', '.join(sorted(config_stems()))})"
        )
    return [lookup[name.lower()] for name in names]


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--root", required=True, help="data root to write into (DATASET.ROOT)")
    parser.add_argument("--datasets", nargs="+", default=None,
                        help="registered names (EuroSAT) or config stems (eurosat); "
                             "default: all 15")
    parser.add_argument("--num-classes", type=int, default=None,
                        help="classes per dataset; default: 6 (EuroSAT 10, ImageNet 16)")
    parser.add_argument("--train", type=int, default=IMAGES_PER_CLASS[0],
                        help="training images per class (default: %(default)s)")
    parser.add_argument("--val", type=int, default=IMAGES_PER_CLASS[1],
                        help="validation images per class (default: %(default)s)")
    parser.add_argument("--test", type=int, default=IMAGES_PER_CLASS[2],
                        help="test images per class (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=32,
                        help="image side in pixels (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the image noise (default: %(default)s)")
    parser.add_argument("--omit-splits", nargs="*", default=[],
                        help="datasets (names or stems) written without their split_zhou_*.json "
                             "(default: none)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.datasets is not None:
        args.datasets = resolve_names(args.datasets, "--datasets")
    args.omit_splits = resolve_names(args.omit_splits, "--omit-splits")
    start = time.time()
    written = write_synthetic_root(
        args.root, args.datasets, args.num_classes, (args.train, args.val, args.test),
        args.image_size, args.seed, args.omit_splits,
    )
    for name, classnames in written.items():
        print(f"{name}: {len(classnames)} classes")
    elapsed = time.time() - start
    print(f"Wrote {len(written)} datasets to {os.path.abspath(args.root)} in {elapsed:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
