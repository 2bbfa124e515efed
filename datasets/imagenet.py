"""ImageNet and the shared reader of its test-only variants.

ImageNet: imagenet/{images/train/<wnid>/, images/val/<wnid>/, classnames.txt}; classnames.txt
has lines "n01440764 tench". Labels are the positions of the sorted train class folders; val is
used as val and as test. The file listing is cached in imagenet/preprocessed.json as compact
columns (per class, the list of file names), so 1.28M entries load in about a second and the
cache stays valid when the data root moves. The cache is rebuilt when the class folders change.
"""

import os
from collections import OrderedDict

from dassl.data.datasets import DATASET_REGISTRY, Datum

from .coop_format import (
    CoOpDataset,
    DatasetError,
    SplitFormatError,
    gc_paused,
    listdir_sorted,
    load_json_file,
    require_path,
    upstream_datum_guard,
    write_json_atomic,
)

INDEX_FILE = "preprocessed.json"
INDEX_VERSION = 1


def read_classnames(path):
    """``classnames.txt`` -> OrderedDict wnid -> class name."""
    require_path(path, "Class-name file")
    classnames = OrderedDict()
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as error:
        raise SplitFormatError(
            f"Malformed class-name file {path}: not UTF-8 text (byte {error.start})"
        ) from None
    for line in lines:
        wnid, _, name = line.strip().partition(" ")
        if wnid:
            classnames[wnid] = name.strip()
    if not classnames:
        raise SplitFormatError(f"Malformed class-name file {path}: no 'wnid name' lines")
    return classnames


def build_index(image_dir):
    """List ``images/train/<wnid>/`` and ``images/val/<wnid>/`` into the compact index."""
    train_dir = require_path(os.path.join(image_dir, "train"), "Image folder")
    val_dir = require_path(os.path.join(image_dir, "val"), "Image folder")
    folders = [f for f in listdir_sorted(train_dir) if os.path.isdir(os.path.join(train_dir, f))]
    index = {"version": INDEX_VERSION, "folders": folders, "train": [], "test": []}
    for split, split_dir in (("train", train_dir), ("test", val_dir)):
        for wnid in folders:
            class_dir = require_path(os.path.join(split_dir, wnid), "Class folder")
            index[split].append(listdir_sorted(class_dir))
    return index


def load_index(path):
    """Read a cached index; returns None when it is unreadable or not in the current format."""
    try:
        index = load_json_file(path, "ImageNet index")
    except SplitFormatError:
        return None
    ok = (
        isinstance(index, dict)
        and index.get("version") == INDEX_VERSION
        and isinstance(index.get("folders"), list)
        and all(
            isinstance(index.get(split), list) and len(index[split]) == len(index["folders"])
            for split in ("train", "test")
        )
    )
    return index if ok else None


def index_to_items(index, image_dir, classnames, classnames_file="classnames.txt"):
    """Compact index -> ``(train, test)`` lists of Datum."""
    missing = [wnid for wnid in index["folders"] if wnid not in classnames]
    if missing:
        raise DatasetError(
            f"{len(missing)} class folders of {image_dir} are not listed in {classnames_file}, "
            f"first: {missing[0]}"
        )
    output = []
    for split, subdir in (("train", "train"), ("test", "val")):
        prefixes = [os.path.join(image_dir, subdir, wnid, "") for wnid in index["folders"]]

        def all_paths(split=split, prefixes=prefixes):
            return [p + n for p, names in zip(prefixes, index[split]) for n in names]

        items = []
        with gc_paused(), upstream_datum_guard(all_paths, os.path.join(image_dir, subdir)):
            for label, (prefix, wnid, names) in enumerate(
                zip(prefixes, index["folders"], index[split])
            ):
                cname = classnames[wnid]
                items.extend(
                    [Datum(impath=prefix + n, label=label, classname=cname) for n in names]
                )
        output.append(items)
    return tuple(output)


def find_classnames_file(dataset_dir, root):
    """A variant's own classnames.txt (upstream's place), else the one in imagenet/."""
    own = os.path.join(dataset_dir, "classnames.txt")
    shared = os.path.join(root, "imagenet", "classnames.txt")
    if os.path.exists(own) or not os.path.exists(shared):
        return require_path(own, "Class-name file (or imagenet/classnames.txt)")
    return shared


@DATASET_REGISTRY.register()
class ImageNet(CoOpDataset):
    folder = "imagenet"
    image_folder = "images"
    fewshot_val = False  # upstream samples only train; val stays the full test set

    def read_splits(self):
        classnames_file = os.path.join(self.dataset_dir, "classnames.txt")
        classnames = read_classnames(classnames_file)
        path = self.split_source = os.path.join(self.dataset_dir, INDEX_FILE)
        train_dir = require_path(os.path.join(self.image_dir, "train"), "Image folder", self.name)
        index = load_index(path) if os.path.exists(path) else None
        if index is not None and index["folders"] != listdir_sorted(train_dir):
            print(f"ImageNet index {path} does not match the class folders; rebuilding it")
            index = None
        if index is None:
            print(f"Indexing {self.image_dir} (once; cached in {path})")
            index = build_index(self.image_dir)
            write_json_atomic(index, path)
        else:
            print(f"Loading ImageNet index from {path}")
        train, test = index_to_items(index, self.image_dir, classnames, classnames_file)
        return train, test, test


class ImageNetVariant(CoOpDataset):
    """Test-only ImageNet variant; ``class_folders`` says how class folders are named.

    "index": folders 0..K-1 (label = folder number); "wnid": one folder per classnames.txt
    wnid (label = its position); "present": the wnid folders that exist, labelled by sorted
    order (the 200-class subsets).
    """

    test_only = True
    class_folders = "wnid"

    def read_splits(self):
        classnames = read_classnames(find_classnames_file(self.dataset_dir, self.root))
        if self.class_folders == "index":
            folders = [(str(label), name) for label, name in enumerate(classnames.values())]
        elif self.class_folders == "wnid":
            folders = list(classnames.items())
        else:
            present = listdir_sorted(self.image_dir)
            unknown = [wnid for wnid in present if wnid not in classnames]
            if unknown:
                raise DatasetError(
                    f"Folder {os.path.join(self.image_dir, unknown[0])} is not a wnid listed "
                    "in classnames.txt"
                )
            folders = [(wnid, classnames[wnid]) for wnid in present]
        test = []
        for label, (folder, cname) in enumerate(folders):
            class_dir = os.path.join(self.image_dir, folder)
            require_path(class_dir, "Class folder", self.name)
            prefix = os.path.join(class_dir, "")
            test.extend(
                Datum(impath=prefix + n, label=label, classname=cname)
                for n in listdir_sorted(class_dir)
            )
        return None, None, test
