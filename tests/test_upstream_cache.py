"""datasets/upstream_cache.py: an upstream fork's pickled caches on a root (issue 13).

The pickles are written here with a stand-in ``Datum`` whose pickled form is Dassl's (module
``dassl.data.datasets.base_dataset``, attributes ``_impath _label _domain _classname``) and the
absolute paths of another root, as a fork on another machine would leave them.
"""

import json
import os
import pickle
import random
import shutil
import sys
import types

import pytest

import dassl.utils
from dassl.data.datasets import DATASET_REGISTRY, build_dataset
from datasets import DATASET_NAMES, upstream_cache
from datasets.coop_format import SplitFormatError, dataset_cfg
from datasets.synthetic import write_synthetic_root
from datasets.upstream_cache import path_markers, read_datum_pickle, remap_rows

TEST_ONLY = ("ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR")
TRAINABLE = tuple(n for n in DATASET_NAMES if n not in TEST_ONLY)
OLD_ROOT = "/mnt/old-cluster/coop_data"
DATUM_MODULE = "dassl.data.datasets.base_dataset"


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("fork_root"))
    write_synthetic_root(root, list(TRAINABLE))
    return root


def private_copy(src_root, dst, name):
    folder = DATASET_REGISTRY.get(name).folder
    shutil.copytree(os.path.join(src_root, folder), os.path.join(str(dst), folder))
    return str(dst)


def load(root, name, shots=-1, seed=1):
    return build_dataset(dataset_cfg(str(root), name, shots, seed))


def paths(items):
    return [item.impath for item in items]


def dump_upstream(path, data):
    """Pickle ``{key: [(impath, label, classname), ...]}`` as upstream does: lists of Dassl
    Datum objects, ``pickle.HIGHEST_PROTOCOL``."""
    module = types.ModuleType(DATUM_MODULE)

    class Datum:
        def __init__(self, impath, label, classname):
            self._impath, self._label, self._domain, self._classname = impath, label, 0, classname

    Datum.__module__, Datum.__qualname__ = DATUM_MODULE, "Datum"
    module.Datum = Datum
    obj = {k: [Datum(*row) if isinstance(row, tuple) else row for row in rows]
           for k, rows in data.items()} if isinstance(data, dict) else data
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, DATUM_MODULE, module)
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def on_old_root(items, ds):
    """``(path on OLD_ROOT, label, classname)`` rows for Datums of ``ds``'s current root."""
    return [(os.path.join(OLD_ROOT, os.path.relpath(it.impath, ds.root)), it.label, it.classname)
            for it in items]


def other_sample(items, n):
    """A complete sample unlike a seeded draw: per label, the last n items, reversed."""
    groups = {}
    for item in items:
        groups.setdefault(item.label, []).append(item)
    return [it for group in groups.values() for it in group[-n:][::-1]]


def fork_pickle_path(ds, shots, seed):
    return os.path.join(ds.split_fewshot_dir, f"shot_{shots}-seed_{seed}.pkl")


# ---- the fork's few-shot sample is used, exactly, on every dataset --------------------------


@pytest.mark.parametrize("name", TRAINABLE)
def test_fork_fewshot_pickle_is_the_sample_used(synth, tmp_path, capsys, name):
    root = private_copy(synth, tmp_path, name)
    full = load(root, name)
    train = other_sample(full.train_x, 4)
    data = {"train": on_old_root(train, full)}
    if name != "ImageNet":  # upstream's ImageNet pickle holds train only
        val = other_sample(full.val, 4)
        data["val"] = on_old_root(val, full)
    pkl = fork_pickle_path(full, 4, 1)
    dump_upstream(pkl, data)
    capsys.readouterr()

    ds = load(root, name, shots=4, seed=1)
    assert paths(ds.train_x) == paths(train)
    assert paths(ds.val) == paths(val if name != "ImageNet" else full.val)
    out = capsys.readouterr().out
    assert f"Loading the few-shot sample of an upstream fork from {pkl}" in out
    assert not os.path.exists(pkl[:-4] + ".json")  # nothing of ours written beside it


def test_fork_pickle_wins_over_our_json_cache(synth, tmp_path):
    root = private_copy(synth, tmp_path, "DescribableTextures")
    ours = load(root, "DescribableTextures", shots=2, seed=3)
    json_path = os.path.join(ours.split_fewshot_dir, "shot_2-seed_3.json")
    before = open(json_path).read()
    full = load(root, "DescribableTextures")
    train, val = other_sample(full.train_x, 2), other_sample(full.val, 2)
    assert paths(train) != paths(ours.train_x)
    dump_upstream(fork_pickle_path(full, 2, 3),
                  {"train": on_old_root(train, full), "val": on_old_root(val, full)})
    ds = load(root, "DescribableTextures", shots=2, seed=3)
    assert paths(ds.train_x) == paths(train) and paths(ds.val) == paths(val)
    assert open(json_path).read() == before


def test_incomplete_fork_pickle_is_ignored_with_a_line(synth, tmp_path, capsys):
    root = private_copy(synth, tmp_path, "EuroSAT")
    full = load(root, "EuroSAT")
    train = [it for it in other_sample(full.train_x, 4) if it.label != 0]  # a class missing
    pkl = fork_pickle_path(full, 4, 1)
    dump_upstream(pkl, {"train": on_old_root(train, full),
                        "val": on_old_root(other_sample(full.val, 4), full)})
    capsys.readouterr()
    ds = load(root, "EuroSAT", shots=4, seed=1)
    lines = [line for line in capsys.readouterr().out.splitlines() if "Ignoring" in line]
    assert len(lines) == 1 and pkl in lines[0] and "classes missing" in lines[0]
    assert {it.label for it in ds.train_x} == set(range(full.num_classes))


# ---- ImageNet: the fork's listing ----------------------------------------------------------


def upstream_draw(train, shots, seed):
    """Dassl's generate_fewshot_dataset after set_random_seed(seed), written from its
    documented behaviour: per label in order of first appearance, random.sample(items, N)."""
    random.seed(seed)
    groups = {}
    for item in train:
        groups.setdefault(item.label, []).append(item)
    return [it for g in groups.values() for it in (random.sample(g, shots) if len(g) >= shots
                                                   else g)]


def test_fork_imagenet_listing_is_read_and_drawn_from(synth, tmp_path, capsys):
    root = private_copy(synth, tmp_path, "ImageNet")
    full = load(root, "ImageNet")
    shutil.rmtree(full.split_fewshot_dir, ignore_errors=True)
    os.remove(os.path.join(full.dataset_dir, "preprocessed.json"))
    train = other_sample(full.train_x, 10**6)  # every image, each class reversed
    test = other_sample(full.test, 10**6)
    pkl = os.path.join(full.dataset_dir, "preprocessed.pkl")
    dump_upstream(pkl, {"train": on_old_root(train, full), "test": on_old_root(test, full)})
    capsys.readouterr()

    ds = load(root, "ImageNet", shots=4, seed=2)
    assert paths(ds.test) == paths(test) and paths(ds.val) == paths(test)
    assert paths(ds.train_x) == paths(upstream_draw(train, 4, 2))
    assert paths(ds.train_x) != paths(upstream_draw(full.train_x, 4, 2))
    out = capsys.readouterr().out
    assert f"Reading ImageNet's listing from {pkl}" in out
    assert not os.path.exists(os.path.join(full.dataset_dir, "preprocessed.json"))


def test_fork_imagenet_listing_of_other_classes_is_ignored(synth, tmp_path, capsys):
    root = private_copy(synth, tmp_path, "ImageNet")
    full = load(root, "ImageNet")
    keep = [it for it in full.train_x if it.label != 0]
    dump_upstream(os.path.join(full.dataset_dir, "preprocessed.pkl"),
                  {"train": on_old_root(keep, full), "test": on_old_root(full.test, full)})
    capsys.readouterr()
    ds = load(root, "ImageNet")
    assert "Ignoring upstream ImageNet listing" in capsys.readouterr().out
    assert paths(ds.train_x) == paths(full.train_x)


# ---- refusals: nothing from the file runs --------------------------------------------------


class WritesAFile:
    """What a crafted pickle does: its __reduce__ makes unpickling call exec."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (exec, (f"open({self.target!r}, 'w').write('pwned')",))


class Impostor:
    def __init__(self, impath, label, classname):
        self._impath, self._label, self._domain, self._classname = impath, label, 0, classname


def bad_contents(kind, target, good):
    if kind == "exec_top":
        return WritesAFile(target)
    if kind == "exec_in_list":
        return {"train": [good[0], WritesAFile(target)], "val": []}
    if kind == "list":
        return [good[0]]
    if kind == "wrong_keys":
        return {"train": [good[0]], "test": [good[0]]}
    if kind == "float_label":
        return {"train": [(good[0][0], 1.5, good[0][2])], "val": []}
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind", ["exec_top", "exec_in_list", "list", "wrong_keys", "float_label", "garbage",
             "foreign_class"])
def test_crafted_or_foreign_pickle_is_refused_and_runs_nothing(synth, tmp_path, kind):
    root = private_copy(synth, tmp_path, "OxfordPets")
    full = load(root, "OxfordPets")
    target = str(tmp_path / "written_by_the_pickle.txt")
    pkl = fork_pickle_path(full, 2, 1)
    good = on_old_root(full.train_x[:1], full)
    if kind == "garbage":
        os.makedirs(os.path.dirname(pkl))
        with open(pkl, "wb") as f:
            f.write(b"\x80\x05not a pickle at all")
    elif kind == "foreign_class":  # Datum's state, but pickled as another class
        os.makedirs(os.path.dirname(pkl))
        with open(pkl, "wb") as f:
            pickle.dump({"train": [Impostor(*good[0])], "val": []}, f)
    else:
        dump_upstream(pkl, bad_contents(kind, target, good))
    with pytest.raises(SplitFormatError) as exc:
        load(root, "OxfordPets", shots=2, seed=1)
    message = str(exc.value)
    assert "\n" not in message and pkl in message and "nothing from it was run" in message
    assert not os.path.exists(target)


def test_crafted_imagenet_listing_is_refused_and_runs_nothing(synth, tmp_path):
    root = private_copy(synth, tmp_path, "ImageNet")
    target = str(tmp_path / "written_by_the_pickle.txt")
    pkl = os.path.join(root, "imagenet", "preprocessed.pkl")
    dump_upstream(pkl, {"train": [WritesAFile(target)], "test": []})
    with pytest.raises(SplitFormatError, match="preprocessed.pkl"):
        load(root, "ImageNet")
    assert not os.path.exists(target)


def test_restricted_unpickler_serves_without_the_bundled_engine(tmp_path, monkeypatch):
    """With upstream Dassl installed there is no dassl.utils.safe_pickle: the bundled module
    is loaded from its file."""
    pkl = str(tmp_path / "x.pkl")
    dump_upstream(pkl, {"train": [("/r/dtd/images/a/1.jpg", 0, "a")]})
    caches = (upstream_cache.restricted_unpickler, upstream_cache.datum_unpickler)
    for cached in caches:
        cached.cache_clear()
    monkeypatch.delattr(dassl.utils, "safe_pickle", raising=False)
    monkeypatch.setitem(sys.modules, "dassl.utils.safe_pickle", None)
    try:
        module = upstream_cache.restricted_unpickler()
        assert module.__name__ == "sar_bundled_safe_pickle"
        assert upstream_cache.datum_unpickler().__mro__[1] is module.Unpickler
        assert read_datum_pickle(pkl, ["train"]) == {"train": [("/r/dtd/images/a/1.jpg", 0, "a")]}
    finally:
        for cached in caches:
            cached.cache_clear()


def test_remap_rows_moves_paths_onto_the_current_root():
    markers = path_markers("eurosat", ("2750", "EuroSAT_RGB"))
    rows = [("/old/eurosat/2750/Forest/1.jpg", 1, "Forest"),
            ("/other/x/eurosat/EuroSAT_RGB/River/2.jpg", 8, "River")]
    out, outside = remap_rows(rows, "/new/eurosat/2750", markers)
    assert outside is None
    assert out == [("/new/eurosat/2750/Forest/1.jpg", 1, "Forest"),
                   ("/new/eurosat/2750/River/2.jpg", 8, "River")]
    assert remap_rows([("/old/dtd/images/a.jpg", 0, "a")], "/n", markers) == (
        None, "/old/dtd/images/a.jpg")
    cars = path_markers("stanford_cars", ("",))
    assert remap_rows([("/o/stanford_cars/cars_test/1.jpg", 0, "c")], "/n/stanford_cars",
                      cars)[0] == [("/n/stanford_cars/cars_test/1.jpg", 0, "c")]


def test_json_cache_written_when_no_fork_pickle(synth, tmp_path):
    root = private_copy(synth, tmp_path, "Food101")
    ds = load(root, "Food101", shots=2, seed=1)
    with open(os.path.join(ds.split_fewshot_dir, "shot_2-seed_1.json")) as f:
        assert json.load(f)["num_shots"] == 2
