"""datasets/validation.py: a split with inconsistent rows is refused with one line naming the
file (issue 14 item 7); a few-shot sample is complete or named incomplete (item 3)."""

import json
import os
import shutil

import pytest

from dassl.data.datasets import Datum, build_dataset
from datasets.coop_format import SplitFormatError, dataset_cfg
from datasets.synthetic import write_synthetic_root
from datasets.validation import fewshot_mismatch, validate_split


@pytest.fixture(scope="module")
def pets_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("pets"))
    write_synthetic_root(root, ["OxfordPets"])
    return root


def break_split(split, how):
    """Edit a split (``{"train"|"val"|"test": rows}``) in one of the ways users met."""
    train, test = split["train"], split["test"]
    other = next(row for row in train if row[1] != train[0][1])
    if how == "name_disagrees":  # label 0 rows, one of them named like another class
        train[1] = [train[1][0], train[0][1], other[2]]
    elif how == "name_two_labels":
        train[1] = [train[1][0], other[1], train[1][2]]
    elif how in ("float_label", "bool_label", "str_label"):
        train[0][1] = {"float_label": 1.7, "bool_label": True, "str_label": "0"}[how]
    elif how == "test_label_not_in_train":
        test.append([test[0][0].replace(".jpg", "x.jpg"), 99, "unseen"])
    elif how == "duplicate_row":
        train.append(list(train[0]))
    elif how == "duplicate_across_splits":
        test.append(list(train[0]))
    elif how in ("gap", "negative", "huge"):
        new = {"gap": 11, "negative": -1, "huge": 10**9}[how]
        cname = train[0][2]
        for rows in split.values():
            for row in rows:
                if row[2] == cname:
                    row[1] = new
    return split


HOW = [
    "name_disagrees", "name_two_labels", "float_label", "bool_label", "str_label",
    "test_label_not_in_train", "duplicate_row", "duplicate_across_splits", "gap", "negative",
    "huge",
]


@pytest.mark.parametrize("how", HOW)
def test_inconsistent_split_is_refused_naming_the_file(pets_root, tmp_path, how):
    root = str(tmp_path)
    shutil.copytree(os.path.join(pets_root, "oxford_pets"), os.path.join(root, "oxford_pets"))
    path = os.path.join(root, "oxford_pets", "split_zhou_OxfordPets.json")
    with open(path) as f:
        split = json.load(f)
    with open(path, "w") as f:
        json.dump(break_split(split, how), f)
    with pytest.raises(SplitFormatError) as exc:
        build_dataset(dataset_cfg(root, "OxfordPets", seed=1))
    message = str(exc.value)
    assert "\n" not in message and path in message


def items(*rows):
    return [Datum(impath=p, label=label, classname=c) for p, label, c in rows]


def test_consistent_split_passes_and_val_may_be_absent():
    train = items(("a", 0, "cat"), ("b", 1, "dog"))
    validate_split(train, None, items(("c", 1, "dog")), "split x")
    shared = items(("c", 0, "cat"))
    validate_split(train, shared, shared, "split x")  # ImageNet's val is its test


def test_repeated_name_allowed_only_when_asked():
    train = items(("a", 0, "crane"), ("b", 1, "crane"))
    validate_split(train, None, [], "split x", unique_names=False)
    with pytest.raises(SplitFormatError, match="class 'crane' has label 0"):
        validate_split(train, None, [], "split x")


def test_fewshot_mismatch_names_what_is_wrong():
    source = items(("a", 0, "cat"), ("b", 0, "cat"), ("c", 1, "dog"), ("d", 2, "cow"))
    assert fewshot_mismatch([source[0], source[2], source[3]], source, 1) is None
    assert fewshot_mismatch([source[0], source[1], source[2], source[3]], source, 4) is None
    assert "2 of 3 classes missing" in fewshot_mismatch([source[0]], source, 1)
    assert "label 0 has 1 entries, expected 2" in fewshot_mismatch(
        [source[0], source[2], source[3]], source, 2)
    assert "twice" in fewshot_mismatch([source[0], source[0], source[2], source[3]], source, 2)
