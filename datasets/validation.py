"""Checks that a split and a few-shot sample are what the training code assumes.

Why: a split whose rows contradict each other trains on wrong labels without a word (a label
with two class names, a test label the model never saw, an image counted twice), or crashes
deep in training with a traceback (negative, huge or gapped labels: the classifier has
``max(label) + 1`` outputs). A few-shot cache that misses classes trains on what it holds.
Each check reads the lists once; a split error is one line naming the file.
"""

from collections import Counter

from .errors import DOCS_HINT, SplitFormatError

SPLIT_NAMES = ("train", "val", "test")


def validate_split(train, val, test, source, unique_names=True):
    """Raise :class:`SplitFormatError` naming ``source`` when the split is inconsistent.

    Guarantees on success: labels are ints; train labels are exactly 0..K-1; each label has
    one class name (and, with ``unique_names``, each class name one label: off for ImageNet,
    whose class-name file may repeat a name); val and test labels are train labels; no image
    is listed twice, within a split or across splits. ``val`` may be None, and a list passed
    twice (ImageNet's val is its test) counts once.
    """

    def fail(reason):
        raise SplitFormatError(f"Malformed {source}: {reason} ({DOCS_HINT})")

    named, seen_lists = [], set()
    for name, items in zip(SPLIT_NAMES, (train, val, test)):
        if items is not None and id(items) not in seen_lists:
            seen_lists.add(id(items))
            named.append((name, items))
    _check_names(named, unique_names, fail)
    _check_labels(named, fail)
    _check_duplicates(named, fail)


def _check_names(named, unique_names, fail):
    """Integer labels, and one class name per label (one label per name if asked)."""
    name_of, label_of = {}, {}
    for split, items in named:
        for item in items:
            label, cname = item.label, item.classname
            if type(label) is not int:  # bool and float are refused too
                fail(f"label {label!r} of {item.impath} ({split}) is not an integer")
            known = name_of.setdefault(label, cname)
            if known != cname:
                fail(f"label {label} is {known!r} in one row but {cname!r} for {item.impath} "
                     f"({split})")
            if unique_names:
                other = label_of.setdefault(cname, label)
                if other != label:
                    fail(f"class {cname!r} has label {other} in one row but {label} for "
                         f"{item.impath} ({split})")


def _check_labels(named, fail):
    """Train labels 0..K-1; every other split uses only train labels."""
    if not named or named[0][0] != "train":
        return
    train_labels = {item.label for item in named[0][1]}
    k = len(train_labels)
    outside = sorted(label for label in train_labels if not 0 <= label < k)
    if outside:
        fail(f"train labels must be 0..{k - 1} for its {k} classes, found label {outside[0]}")
    for split, items in named[1:]:
        for item in items:
            if item.label not in train_labels:
                fail(f"label {item.label} of {item.impath} ({split}) is not a train label")


def _check_duplicates(named, fail):
    """Each image once: a repeated row weighs an image twice, or leaks it into the test."""
    where = {}
    for split, items in named:
        for item in items:
            first = where.get(item.impath)
            if first is not None:
                fail(f"image {item.impath} is listed twice ({first} and {split})")
            where[item.impath] = split


def fewshot_mismatch(picked, source, num_shots):
    """Why ``picked`` is not a complete few-shot sample of ``source``, or None when it is.

    Complete means: no entry twice, and for every label of ``source`` exactly
    ``min(num_shots, available)`` entries, as upstream's draw gives (a class with fewer images
    than shots keeps them all). ``picked`` holds items of ``source`` (looked up by path).
    """
    if len({item.impath for item in picked}) != len(picked):
        return "an entry is listed twice"
    available = Counter(item.label for item in source)
    got = Counter(item.label for item in picked)
    missing = [label for label in available if label not in got]
    if missing:
        return f"{len(missing)} of {len(available)} classes missing, first label {missing[0]}"
    for label, count in available.items():
        want = min(num_shots, count)
        if got[label] != want:
            return f"label {label} has {got[label]} entries, expected {want}"
    return None
