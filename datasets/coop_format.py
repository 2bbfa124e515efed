"""Shared machinery for the CoOp-format datasets.

Everything that more than one dataset needs lives here, so that each dataset module only names
its folders and parses what is truly its own:

* split files ``split_zhou_<Name>.json`` (``{"train"|"val"|"test": [[relpath, label, classname]]}``,
  paths relative to the image folder) -- :func:`read_split`, :func:`save_split`;
* building a split from a folder-per-class tree when no split file exists --
  :func:`read_and_split_data` (per class: shuffle, 50% train, 20% val, the rest test);
* few-shot selection (:meth:`CoOpDataset.fewshot`): an upstream fork's pickle for the same
  shots and seed if one is there (read by :mod:`datasets.upstream_cache`, never unpickled
  plainly), else our JSON cache ``<dataset_dir>/split_fewshot/shot_{N}-seed_{S}.json``, else a
  fresh draw equal to upstream's for the same seed and listing; every cache is checked against
  the split and the shots (:mod:`datasets.validation`);
* base/new class subsampling -- :func:`subsample_classes`;
* one-line errors for a missing folder, a missing or malformed split and missing images
  (:class:`DatasetError` and its subclasses);
* :class:`CoOpDataset`, the base class every dataset module derives from.

The upstream function names and signatures (``read_split(filepath, path_prefix)``,
``save_split(train, val, test, filepath, path_prefix)``, ``read_and_split_data(...)``,
``subsample_classes(*args, subsample=...)``) are kept so dataset files written for upstream
CoOp can call them. Every cache written here is JSON; nothing is pickled.
"""

import contextlib
import gc
import json
import math
import os
import random

from dassl.data.datasets import DatasetBase, Datum
from dassl.utils import listdir_nohidden

from .errors import (
    DOCS_HINT,
    DatasetError,
    DatasetNotFoundError,
    MissingImagesError,
    SplitFormatError,
)
from .files import create_temp, write_failure
from .upstream_cache import path_markers, read_datum_pickle, remap_rows
from .validation import SPLIT_NAMES, fewshot_mismatch, validate_split

SUBSAMPLE_CHOICES = ("all", "base", "new")
# what the image folders of the 15 datasets hold (compared in lower case: ImageNet's are .JPEG)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while building many small objects.

    Creating a million Datum objects otherwise triggers repeated full collections that
    scan every live object: ImageNet's index loads about 4x faster with the collector paused.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def require_path(path, what, dataset=""):
    """Raise :class:`DatasetNotFoundError` when ``path`` does not exist."""
    if not os.path.exists(path):
        owner = f" for {dataset}" if dataset else ""
        raise DatasetNotFoundError(f"{what}{owner} not found: {path} ({DOCS_HINT})")
    return path


def listdir_sorted(path):
    """Sorted entries of ``path`` without hidden files (names starting with a dot)."""
    return listdir_nohidden(path, sort=True)


def list_class_folders(path):
    """Sorted names of the non-hidden folders in ``path``: files beside the class folders
    (ImageNet-A/R ship a README.txt there) are not classes."""
    with os.scandir(path) as entries:
        return sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())


def list_image_files(path, sort=True):
    """Non-hidden image files of ``path`` (by extension, any case).

    Subfolders, stray files and broken or looping symlinks are left out, so none of them
    becomes an "image". ``sort=False`` keeps ``os.listdir``'s order, the order upstream's
    ImageNet reader draws from.
    """
    names = [
        name for name in os.listdir(path)
        if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)
        and os.path.isfile(os.path.join(path, name))
    ]
    return sorted(names) if sort else names


def load_json_file(path, what="split file"):
    """Parse a JSON file; a read or parse failure becomes a one-line :class:`SplitFormatError`."""
    try:
        with open(path, encoding="utf-8") as f, gc_paused():
            return json.load(f)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SplitFormatError(f"Malformed {what} {path}: {reason} ({DOCS_HINT})") from None


def write_json_atomic(obj, path, indent=None):
    """Write JSON to ``path`` through a temporary file, so readers never see half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    separators = (",", ": ") if indent else (",", ":")
    fd, tmp = create_temp(folder, os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            try:
                json.dump(obj, f, indent=indent, separators=separators)
                f.flush()
            except OSError as error:
                raise write_failure(path, error) from None
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def relative_path(impath, prefix):
    """``impath`` relative to the folder ``prefix`` (fast path for paths built by joining)."""
    head = prefix.rstrip(os.sep) + os.sep
    if impath.startswith(head):
        return impath[len(head) :]
    return os.path.relpath(impath, prefix)


def items_to_rows(items, path_prefix):
    """Datums -> ``[[relpath, label, classname], ...]``."""
    return [[relative_path(it.impath, path_prefix), it.label, it.classname] for it in items]


def rows_to_items(rows, path_prefix, source="split file"):
    """``[[relpath, label, classname], ...]`` -> Datums (a bad row: :class:`SplitFormatError`)."""
    join = os.path.join
    items = []

    def all_paths():
        return [join(path_prefix, str(row[0])) for row in rows]

    with gc_paused(), upstream_datum_guard(all_paths, source):
        for row in rows:
            try:
                relpath, label, classname = row
                if type(label) is not int:  # upstream's int() would take 1.7, "3" or True
                    raise TypeError
                if not isinstance(relpath, str) or not isinstance(classname, str):
                    raise TypeError
            except (TypeError, ValueError):
                raise SplitFormatError(
                    f"Malformed {source}: expected [relative_path, integer label, classname], "
                    f"got {row!r}"
                ) from None
            items.append(Datum(impath=join(path_prefix, relpath), label=label, classname=classname))
    return items


def classnames_by_label(*data_sources):
    """Class names indexed by label over all given lists (labels are expected to be 0..K-1)."""
    mapping = {}
    for source in data_sources:
        if source:
            mapping.update((item.label, item.classname) for item in source)
    if not mapping:
        return []
    return [mapping.get(label, "") for label in range(max(mapping) + 1)]


def seed_python_random(seed):
    """Seed Python's ``random`` the way Dassl's set_random_seed does (only for seed >= 0)."""
    if seed is not None and seed >= 0:
        random.seed(seed)


# --------------------------------------------------------------------------------------------
# split files
# --------------------------------------------------------------------------------------------


def read_split(filepath, path_prefix):
    """Read ``split_zhou_*.json``; returns ``(train, val, test)`` lists of Datum."""
    require_path(filepath, "Split file")
    data = load_json_file(filepath)
    if not isinstance(data, dict) or any(
        not isinstance(data.get(name), list) for name in SPLIT_NAMES
    ):
        raise SplitFormatError(
            f'Malformed split file {filepath}: expected an object with "train", "val" and "test" '
            f"lists ({DOCS_HINT})"
        )
    empty = [name for name in ("train", "test") if not data[name]]
    if empty:
        raise SplitFormatError(
            f"Malformed split file {filepath}: the {' and '.join(empty)} split is empty "
            f"({DOCS_HINT})"
        )
    print(f"Reading split from {filepath}")
    source = f"split file {filepath}"
    return tuple(rows_to_items(data[name], path_prefix, source) for name in SPLIT_NAMES)


def save_split(train, val, test, filepath, path_prefix):
    """Write ``(train, val, test)`` as a split file with paths relative to ``path_prefix``."""
    splits = zip(SPLIT_NAMES, (train, val, test))
    split = {name: items_to_rows(items, path_prefix) for name, items in splits}
    write_json_atomic(split, filepath, indent=4)
    print(f"Saved split to {filepath}")


def split_groups(groups, p_trn=0.5, p_val=0.2):
    """Split per-class groups ``[(label, classname, [impath, ...]), ...]`` into train/val/test.

    Per class, in the given order: shuffle with ``random``, then ``round(n * p_trn)`` go to
    train, ``round(n * p_val)`` to val and the rest to test (upstream's proportions).
    """
    train, val, test = [], [], []
    for label, classname, impaths in groups:
        impaths = list(impaths)
        random.shuffle(impaths)
        n_total = len(impaths)
        n_train = round(n_total * p_trn)
        n_val = round(n_total * p_val)
        if n_train < 1 or n_total - n_train - n_val < 1:
            raise DatasetError(
                f"Class {classname!r} has {n_total} images, too few to split into train/val/test"
            )
        for target, chunk in (
            (train, impaths[:n_train]),
            (val, impaths[n_train : n_train + n_val]),
            (test, impaths[n_train + n_val :]),
        ):
            target.extend(Datum(impath=p, label=label, classname=classname) for p in chunk)
    return train, val, test


def read_and_split_data(image_dir, p_trn=0.5, p_val=0.2, ignored=(), new_cnames=None):
    """Build a split from a folder-per-class tree (the DTD-style split of upstream CoOp).

    Class folders are sorted and labelled 0..K-1 (``ignored`` folders and any file beside
    them skipped before labelling, so labels have no gaps); a folder is renamed through
    ``new_cnames`` when listed there. Only image files are listed (:func:`list_image_files`):
    a subfolder or a symlink loop never becomes an image. Unlike upstream, image files are
    sorted before shuffling, so the split does not depend on the filesystem's listing order.
    """
    require_path(image_dir, "Image folder")
    ignored = set(ignored or ())
    new_cnames = new_cnames or {}
    categories = [c for c in list_class_folders(image_dir) if c not in ignored]
    groups = []
    for label, category in enumerate(categories):
        category_dir = os.path.join(image_dir, category)
        impaths = [os.path.join(category_dir, name) for name in list_image_files(category_dir)]
        groups.append((label, new_cnames.get(category, category), impaths))
    return split_groups(groups, p_trn, p_val)


# --------------------------------------------------------------------------------------------
# subsampling and existence checks
# --------------------------------------------------------------------------------------------


def subsample_classes(*args, subsample="all"):
    """Keep the base (first ceil(n/2) sorted labels) or new (the rest) classes, relabelled 0..k-1.

    Labels come from the first list; every list is filtered the same way. ``None`` entries pass
    through. Returns ``args`` unchanged for ``"all"`` and a list otherwise (as upstream).
    """
    if subsample not in SUBSAMPLE_CHOICES:
        raise ValueError(f"SUBSAMPLE_CLASSES must be one of {SUBSAMPLE_CHOICES}, got {subsample!r}")
    if subsample == "all":
        return args
    labels = sorted({item.label for item in args[0]})
    m = math.ceil(len(labels) / 2)
    selected = labels[:m] if subsample == "base" else labels[m:]
    print(f"SUBSAMPLE {subsample.upper()} CLASSES!")
    relabeler = {label: new for new, label in enumerate(selected)}
    with gc_paused():
        return [_relabel(dataset, relabeler) for dataset in args]


def _relabel(dataset, relabeler):
    if dataset is None:
        return None
    return [
        Datum(
            impath=item.impath,
            label=relabeler[item.label],
            domain=item.domain,
            classname=item.classname,
        )
        for item in dataset
        if item.label in relabeler
    ]


def check_images_exist(items, source):
    """Raise :class:`MissingImagesError` if any image of ``items`` (Datums) is missing."""
    check_paths_exist([item.impath for item in items], source)


def check_paths_exist(impaths, source):
    """Raise :class:`MissingImagesError` naming the count and the first missing path.

    Each folder is listed once (``os.scandir``), so checking a large split stays cheap.
    """
    listings = {}
    missing, first = 0, None
    split = os.path.split
    for impath in impaths:
        folder, name = split(impath)
        names = listings.get(folder)
        if names is None:
            try:
                with os.scandir(folder) as it:
                    names = {entry.name for entry in it}
            except OSError:
                names = set()
            listings[folder] = names
        if name not in names:
            missing += 1
            if first is None:
                first = impath
    if missing:
        raise MissingImagesError(
            f"{missing} of {len(impaths)} images listed in {source} are missing, "
            f"first: {first} ({DOCS_HINT})"
        )


@contextlib.contextmanager
def upstream_datum_guard(impaths, source):
    """Turn the ``assert check_isfile(impath)`` of upstream Dassl's Datum into a one-line
    :class:`MissingImagesError` (the bundled Datum does not check; ``impaths`` is a callable
    returning the paths, only evaluated after such a failure)."""
    try:
        yield
    except AssertionError:
        check_paths_exist(impaths(), source)
        raise


# --------------------------------------------------------------------------------------------
# config helper (tools and tests)
# --------------------------------------------------------------------------------------------


def dataset_cfg(root, name, num_shots=-1, seed=-1, subsample="all", read_only=False):
    """The part of a Dassl config a dataset reads, as a yacs CfgNode (``read_only``: load
    without writing anything, for checking a root)."""
    from yacs.config import CfgNode

    cfg = CfgNode()
    cfg.VERBOSE = True
    cfg.SEED = seed
    cfg.DATASET = CfgNode()
    cfg.DATASET.ROOT = root
    cfg.DATASET.NAME = name
    cfg.DATASET.NUM_SHOTS = num_shots
    cfg.DATASET.SUBSAMPLE_CLASSES = subsample
    cfg.DATASET.READ_ONLY = read_only
    return cfg


# --------------------------------------------------------------------------------------------
# the base class
# --------------------------------------------------------------------------------------------


class CoOpDataset(DatasetBase):
    """Base class of the CoOp-format datasets.

    Subclasses set the class attributes and, when their raw files are special, override
    :meth:`read_splits` (or :meth:`build_split` for "no split file yet").

    Attributes on the instance follow upstream: ``dataset_dir``, ``image_dir``, ``split_path``,
    ``split_fewshot_dir``; plus ``all_classnames`` (names of all classes by label, taken
    before few-shot selection and subsampling) and ``notes`` (what a read-only load would
    have written, for ``tools/check_data_root.py``).

    ``DATASET.READ_ONLY`` (set by :func:`dataset_cfg` for the checking tool, absent from
    training configs) loads without writing anything: no built split, cache or index.
    """

    folder = ""  # dataset folder under DATASET.ROOT
    image_folder = ""  # image folder inside the dataset folder ("" = the dataset folder)
    image_folder_alternatives = ()  # other names the current archives unpack to
    split_file = None  # split_zhou_<Name>.json, or None when the dataset has none
    folder_split = False  # build (and save) a split from image_folder/<class>/ when none exists
    ignored_folders = ()
    renamed_classes = {}
    fewshot_val = True  # few-shot also subsamples val (min(N, 4) per class)
    fewshot_listing = None  # ImageNet: "filesystem", the listing order its draw depends on
    test_only = False  # evaluation-only variant: all data is test, and train_x = test
    unique_classnames = True  # the split check also requires one label per class name

    def __init__(self, cfg):
        self.name = type(self).__name__
        self.seed = int(getattr(cfg, "SEED", -1))
        self.read_only = bool(cfg.DATASET.get("READ_ONLY", False))
        self.notes = []
        self.root = os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))
        self.dataset_dir = os.path.join(self.root, self.folder)
        self.split_path = os.path.join(self.dataset_dir, self.split_file or "")
        self.split_fewshot_dir = os.path.join(self.dataset_dir, "split_fewshot")
        self.split_source = self.split_path if self.split_file else self.dataset_dir
        require_path(self.dataset_dir, "Dataset folder", self.name)
        self.image_dir = self.find_image_dir()

        train, val, test = self.read_splits()
        self.validate_splits(train, val, test)
        if self.test_only:
            train, val = test, None
        self.all_classnames = classnames_by_label(train, val, test)

        num_shots = int(cfg.DATASET.NUM_SHOTS)
        if num_shots >= 1 and not self.test_only:
            train, val = self.fewshot(train, val, num_shots)
        self.check_images(train, val, test)

        subsample = cfg.DATASET.get("SUBSAMPLE_CLASSES", "all")
        train, val, test = subsample_classes(train, val, test, subsample=subsample)
        if self.test_only:
            train = test
        super().__init__(train_x=train, val=val, test=test)

    # ---- reading -------------------------------------------------------------------------

    def find_image_dir(self):
        """The image folder: its upstream name, else one of ``image_folder_alternatives``."""
        names = (self.image_folder, *self.image_folder_alternatives)
        paths = [os.path.join(self.dataset_dir, name).rstrip(os.sep) for name in names]
        found = next((path for path in paths if os.path.isdir(path)), None)
        if found is None and len(paths) > 1:
            raise DatasetNotFoundError(
                f"Image folder for {self.name} not found: {paths[0]} (or "
                f"{' or '.join(names[1:])} beside it) ({DOCS_HINT})"
            )
        return found or require_path(paths[0], "Image folder", self.name)

    def path_markers(self):
        """Where the relative path starts in a fork's absolute paths (see upstream_cache)."""
        return path_markers(self.folder, (self.image_folder, *self.image_folder_alternatives))

    def read_splits(self):
        """Return ``(train, val, test)``; default: the split file, else :meth:`build_split`.

        A built split is checked before it is saved, so a bad one never reaches the root.
        """
        if os.path.exists(self.split_path) and self.split_file:
            return read_split(self.split_path, self.image_dir)
        seed_python_random(self.seed)
        splits = self.build_split()
        self.validate_splits(*splits, source=f"split built from {self.image_dir}")
        self.save_built_split(splits)
        return splits

    def build_split(self):
        """Make a split when the split file is absent (default: folder-per-class or error)."""
        if not self.folder_split:
            require_path(self.split_path, "Split file", self.name)
        print(f"No split file at {self.split_path}; building one from {self.image_dir}")
        return read_and_split_data(
            self.image_dir, ignored=self.ignored_folders, new_cnames=self.renamed_classes
        )

    def save_built_split(self, splits):
        """Save a home-made split, loudly: results on it do not compare with published ones."""
        if self.read_only:
            self.notes.append("no CoOp split file: a random split would be built")
            return
        print(
            f"WARNING: no CoOp split file {self.split_path}: a random split was built and saved "
            "there. Results on it do not compare with published ones; put the official file "
            f"there instead ({DOCS_HINT})."
        )
        save_split(*splits, self.split_path, self.image_dir)

    def validate_splits(self, train, val, test, source=None):
        """Check the split once, when read (:func:`datasets.validation.validate_split`).

        The test-only variants are built from class folders and consistent by construction.
        """
        if not self.test_only:
            source = source or f"split {self.split_source}"
            validate_split(train, val, test, source, unique_names=self.unique_classnames)

    def check_images(self, train, val, test):
        seen = set()
        for items in (train, val, test):
            if items is not None and id(items) not in seen:
                seen.add(id(items))
                check_images_exist(items, self.split_source)

    def write_cache(self, obj, path):
        """Write a cache file unless loading read-only; returns whether it was written."""
        if self.read_only:
            return False
        write_json_atomic(obj, path)
        return True

    # ---- few-shot ------------------------------------------------------------------------

    def fewshot(self, train, val, num_shots):
        """Few-shot train (and val) lists: a fork's sample, else our cache, else a fresh draw.

        An upstream fork's pickle for the same shots and seed wins over our JSON cache: it is
        the sample the fork trained on, so runs here then compare with the fork's on that
        root. Our cache only spares reruns a redraw; drawn on the same listing it equals the
        fork's. Either is used only if it is a complete sample of the current split for the
        requested shots; otherwise it is ignored or rebuilt, with a logged line.
        """
        stem = os.path.join(self.split_fewshot_dir, f"shot_{num_shots}-seed_{self.seed}")
        picked = self._fork_fewshot(stem + ".pkl", train, val, num_shots)
        if picked is None:
            picked = self._json_fewshot(stem + ".json", train, val, num_shots)
        if picked is None:
            picked = self._draw_fewshot(stem + ".json", train, val, num_shots)
        return picked

    def _fork_fewshot(self, path, train, val, num_shots):
        """The sample of an upstream fork's pickle, if there is one matching the split."""
        if not os.path.exists(path):
            return None
        keys = ("train", "val") if self.fewshot_val else ("train",)
        rows = {}
        with gc_paused():
            stored_rows = read_datum_pickle(path, keys)
        for key, stored in stored_rows.items():
            rows[key], outside = remap_rows(stored, self.image_dir, self.path_markers())
            if outside is not None:
                print(f"Ignoring upstream few-shot pickle {path}: {outside} is not an image "
                      f"path of {self.name}")
                return None
        picked, reason = self._match_sample(rows, train, val, num_shots)
        if reason:
            print(f"Ignoring upstream few-shot pickle {path}: {reason}")
            return None
        print(f"Loading the few-shot sample of an upstream fork from {path} "
              f"(paths remapped onto {self.image_dir})")
        return picked

    def _json_fewshot(self, path, train, val, num_shots):
        """The sample of our JSON cache, if it matches the header, the split and the shots."""
        if not os.path.exists(path):
            return None
        rows, reason = self._read_fewshot_json(path, num_shots)
        if rows is not None:
            picked, reason = self._match_sample(rows, train, val, num_shots)
        if reason:
            print(f"Few-shot cache {path} is stale ({reason}); rebuilding it")
            return None
        print(f"Loading preprocessed few-shot data from {path}")
        return picked

    def _draw_fewshot(self, path, train, val, num_shots):
        """Upstream's draw: Python's ``random`` seeded with SEED (as Dassl's set_random_seed
        leaves it), N per label from train, then, continuing the stream, min(N, 4) from val."""
        seed_python_random(self.seed)
        train = self.generate_fewshot_dataset(train, num_shots=num_shots)
        if self.fewshot_val:
            val = self.generate_fewshot_dataset(val, num_shots=min(num_shots, 4))
        data = {"num_shots": num_shots, "seed": self.seed}
        if self.fewshot_listing:
            data["listing"] = self.fewshot_listing
        data["train"] = items_to_rows(train, self.image_dir)
        data["val"] = items_to_rows(val, self.image_dir) if self.fewshot_val else None
        if self.write_cache(data, path):
            print(f"Saved few-shot data to {path}")
        return train, val

    def _read_fewshot_json(self, path, num_shots):
        """``({split: [(impath, label, classname)]}, None)`` from our cache, or ``(None, why)``."""
        try:
            data = load_json_file(path, "few-shot cache")
        except SplitFormatError:
            return None, "unreadable JSON"
        if not isinstance(data, dict):
            return None, "not a JSON object"
        header = (data.get("num_shots"), data.get("seed"), data.get("listing"))
        if header != (num_shots, self.seed, self.fewshot_listing):
            return None, f"header says shots={header[0]} seed={header[1]} listing={header[2]}"
        rows = {}
        for name in ("train", "val"):
            rows[name] = []
            for row in data.get(name) or []:
                if not isinstance(row, list) or len(row) != 3 or not isinstance(row[0], str):
                    return None, f"malformed {name} entry"
                rows[name].append((os.path.join(self.image_dir, row[0]), row[1], row[2]))
        return rows, None

    def _match_sample(self, rows, train, val, num_shots):
        """``((train, val), None)`` when ``rows`` pick a complete few-shot sample of the split
        for ``num_shots``, else ``(None, why)``; the items returned are the split's own."""
        out = []
        for name, source, shots in (("train", train, num_shots), ("val", val, min(num_shots, 4))):
            if name == "val" and not self.fewshot_val:
                out.append(val)
                continue
            index = {item.impath: item for item in source}
            picked = []
            for impath, label, classname in rows.get(name) or []:
                item = index.get(impath)
                if item is None or item.label != label or item.classname != classname:
                    rel = relative_path(impath, self.image_dir)
                    return None, f"{name} entry {rel!r} is not in the split"
                picked.append(item)
            reason = fewshot_mismatch(picked, source, shots)
            if reason:
                return None, f"{name}: {reason}"
            out.append(picked)
        return tuple(out), None


__all__ = [
    "CoOpDataset",
    "DatasetError",
    "DatasetNotFoundError",
    "MissingImagesError",
    "SplitFormatError",
    "check_images_exist",
    "check_paths_exist",
    "classnames_by_label",
    "dataset_cfg",
    "items_to_rows",
    "list_class_folders",
    "list_image_files",
    "listdir_sorted",
    "load_json_file",
    "read_and_split_data",
    "read_split",
    "require_path",
    "rows_to_items",
    "save_split",
    "split_groups",
    "subsample_classes",
    "upstream_datum_guard",
    "validate_split",
    "write_json_atomic",
]
