"""ImageNet and the shared reader of its test-only variants.

ImageNet: imagenet/{images/train/<wnid>/, images/val/<wnid>/, classnames.txt}; classnames.txt
has lines "n01440764 tench". Labels are the positions of the sorted train class folders; val is
used as val and as test.

The images of each class folder are listed in the file system's order (``os.listdir``, not
sorted), as upstream lists them, because the few-shot draw picks by position in that list:
only so does a fresh draw here equal upstream's fresh draw on the same machine. The listing is
cached in imagenet/preprocessed.json as compact columns (per class, the list of file names),
so 1.28M entries load in about a second and the cache stays valid when the data root moves; it
is rebuilt when the class folders change. An upstream fork's own listing,
imagenet/preprocessed.pkl, wins when present: the fork drew its sample from it.
"""

import os
from collections import OrderedDict

from dassl.data.datasets import DATASET_REGISTRY, Datum

from .coop_format import (
    CoOpDataset,
    DatasetError,
    SplitFormatError,
    gc_paused,
    list_class_folders,
    list_image_files,
    load_json_file,
    require_path,
    rows_to_items,
    upstream_datum_guard,
)
from .upstream_cache import read_datum_pickle, remap_rows

INDEX_FILE = "preprocessed.json"
FORK_INDEX_FILE = "preprocessed.pkl"
INDEX_VERSION = 2  # 2: file names in listing order (version 1 sorted them)


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
    """List ``images/train/<wnid>/`` and ``images/val/<wnid>/`` into the compact index.

    Class folders sorted, as upstream; the images of each in listing order (see the module
    docstring), only image files.
    """
    train_dir = require_path(os.path.join(image_dir, "train"), "Image folder")
    val_dir = require_path(os.path.join(image_dir, "val"), "Image folder")
    folders = list_class_folders(train_dir)
    index = {"version": INDEX_VERSION, "folders": folders, "train": [], "test": []}
    for split, split_dir in (("train", train_dir), ("test", val_dir)):
        for wnid in folders:
            class_dir = require_path(os.path.join(split_dir, wnid), "Class folder")
            index[split].append(list_image_files(class_dir, sort=False))
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
    fewshot_listing = "filesystem"  # caches drawn from sorted lists (before) are redrawn
    unique_classnames = False  # classnames.txt may give two wnids the same name

    def read_splits(self):
        self.listing_from_fork = False
        train_dir = require_path(os.path.join(self.image_dir, "train"), "Image folder", self.name)
        fork = os.path.join(self.dataset_dir, FORK_INDEX_FILE)
        if os.path.exists(fork):
            splits = self.read_fork_listing(fork, train_dir)
            if splits is not None:
                return splits
        classnames_file = os.path.join(self.dataset_dir, "classnames.txt")
        classnames = read_classnames(classnames_file)
        path = self.split_source = os.path.join(self.dataset_dir, INDEX_FILE)
        index = load_index(path) if os.path.exists(path) else None
        if index is not None and index["folders"] != list_class_folders(train_dir):
            print(f"ImageNet index {path} does not match the class folders; rebuilding it")
            index = None
        if index is None:
            print(f"Indexing {self.image_dir} (once; cached in {path})")
            index = build_index(self.image_dir)
            self.write_cache(index, path)
        else:
            print(f"Loading ImageNet index from {path}")
        train, test = index_to_items(index, self.image_dir, classnames, classnames_file)
        return train, test, test

    def read_fork_listing(self, path, train_dir):
        """``(train, test, test)`` from an upstream fork's preprocessed.pkl, paths remapped
        onto this root; None (with a logged line) when its classes are not this root's."""
        with gc_paused():  # 1.3M objects: the collector would rescan them again and again
            rows = read_datum_pickle(path, ("train", "test"))
        items = {}
        for key, stored in rows.items():
            remapped, outside = remap_rows(stored, self.image_dir, self.path_markers())
            if outside is not None:
                print(f"Ignoring upstream ImageNet listing {path}: {outside} is not under "
                      "imagenet/images/")
                return None
            items[key] = rows_to_items(remapped, self.image_dir, f"ImageNet listing {path}")
        wnids = sorted({os.path.basename(os.path.dirname(it.impath)) for it in items["train"]})
        if wnids != list_class_folders(train_dir):
            print(f"Ignoring upstream ImageNet listing {path}: its classes are not the class "
                  f"folders of {train_dir}")
            return None
        print(f"Reading ImageNet's listing from {path}, an upstream fork's cache "
              f"(paths remapped onto {self.image_dir})")
        self.split_source, self.listing_from_fork = path, True
        return items["train"], items["test"], items["test"]

    def validate_splits(self, train, val, test, source=None):
        """Our own listing is consistent by construction; a fork's pickle is checked."""
        if self.listing_from_fork:
            super().validate_splits(train, val, test, source)


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
            present = list_class_folders(self.image_dir)  # files such as README.txt skipped
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
                for n in list_image_files(class_dir)
            )
        return None, None, test
