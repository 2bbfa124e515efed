"""The 15 CoOp datasets read from a synthetic root in the upstream layout.

Covers loading (all/base/new), few-shot selection (N per class, seeded, identical to upstream's
draw, JSON cache with relative paths that survives moving the root and is rebuilt when stale)
and the one-line errors for broken inputs.
"""

import json
import math
import os
import random
import shutil

import pytest
import yaml

from dassl.data.datasets import DATASET_REGISTRY, Datum, build_dataset
from datasets import DATASET_CONFIGS, DATASET_NAMES
from datasets.coop_format import (
    DatasetError,
    DatasetNotFoundError,
    MissingImagesError,
    SplitFormatError,
    dataset_cfg,
)
from tools.make_synthetic_data import IMAGES_PER_CLASS, write_synthetic_root

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_ONLY = ("ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR")
TRAINABLE = tuple(n for n in DATASET_NAMES if n not in TEST_ONLY)
FOLDERS = {name: DATASET_REGISTRY.get(name).folder for name in DATASET_NAMES}


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("coop_data"))
    classes = write_synthetic_root(root)
    return root, classes


def load(root, name, shots=-1, seed=1, subsample="all"):
    return build_dataset(dataset_cfg(str(root), name, shots, seed, subsample))


def copy_datasets(src_root, dst_root, *names):
    """Copy the folders of ``names`` into ``dst_root`` (a private, mutable root)."""
    for name in names:
        folder = FOLDERS[name]
        shutil.copytree(os.path.join(src_root, folder), os.path.join(str(dst_root), folder))
    return str(dst_root)


def per_label(items):
    counts = {}
    for item in items:
        counts[item.label] = counts.get(item.label, 0) + 1
    return counts


def upstream_fewshot(train, val, num_shots, seed, with_val=True):
    """Upstream CoOp's procedure, re-implemented independently for the comparison:
    random.seed(seed); per label in order of first appearance, random.sample(items, N) from
    train, then (same random stream) min(N, 4) per label from val."""
    random.seed(seed)

    def draw(items, n):
        groups = {}
        for item in items:
            groups.setdefault(item.label, []).append(item)
        out = []
        for group in groups.values():
            out.extend(random.sample(group, n) if len(group) >= n else group)
        return out

    return draw(train, num_shots), (draw(val, min(num_shots, 4)) if with_val else val)


def paths(items):
    return [item.impath for item in items]


def one_line(exc_info):
    message = str(exc_info.value)
    assert "\n" not in message
    return message


# ---- registry and configs ------------------------------------------------------------------


def test_every_dataset_registered_with_a_config():
    stems = sorted(f[:-5] for f in os.listdir(os.path.join(REPO, "configs", "datasets")))
    assert stems == sorted(DATASET_CONFIGS)
    for stem, name in DATASET_CONFIGS.items():
        assert name in DATASET_REGISTRY
        with open(os.path.join(REPO, "configs", "datasets", f"{stem}.yaml")) as f:
            assert yaml.safe_load(f) == {"DATASET": {"NAME": name}}
    assert len(DATASET_NAMES) == 15


# ---- loading all / base / new ---------------------------------------------------------------


@pytest.mark.parametrize("subsample", ["all", "base", "new"])
@pytest.mark.parametrize("name", DATASET_NAMES)
def test_load(synth, name, subsample):
    root, classes = synth
    expected = classes[name]
    ds = load(root, name, subsample=subsample)
    n, m = len(expected), math.ceil(len(expected) / 2)
    names = {"all": expected, "base": expected[:m], "new": expected[m:]}[subsample]

    assert ds.all_classnames == expected
    assert ds.num_classes == len(names)
    assert ds.classnames == names
    assert n >= 2
    for items in (ds.train_x, ds.val, ds.test):
        if items is None:
            continue
        assert {item.label for item in items} == set(range(len(names)))
        assert all(item.classname == names[item.label] for item in items)
        assert all(os.path.isfile(item.impath) for item in items)
    if name in TEST_ONLY:
        assert ds.val is None and paths(ds.train_x) == paths(ds.test)


@pytest.mark.parametrize("name", DATASET_NAMES)
def test_base_and_new_partition_the_classes(synth, name):
    root, _ = synth
    base = load(root, name, subsample="base")
    new = load(root, name, subsample="new")
    assert not set(base.classnames) & set(new.classnames)
    assert base.classnames + new.classnames == base.all_classnames
    assert set(paths(base.test)) | set(paths(new.test)) == set(paths(load(root, name).test))


def test_bad_subsample_value(synth):
    with pytest.raises(ValueError, match="SUBSAMPLE_CLASSES"):
        load(synth[0], "OxfordPets", subsample="novel")


def test_dataset_specific_parsing(synth):
    root, _ = synth
    aircraft = load(root, "FGVCAircraft")
    assert "BAE 146-200" in aircraft.classnames  # variant names with spaces
    assert all(p.endswith(".jpg") and "/images/" in p for p in paths(aircraft.test))
    cars = load(root, "StanfordCars")
    assert {p.split(os.sep)[-2] for p in paths(cars.train_x)} == {"cars_train"}
    assert {p.split(os.sep)[-2] for p in paths(cars.test)} == {"cars_test"}
    eurosat = load(root, "EuroSAT")
    assert eurosat.classnames[:2] == ["Annual Crop Land", "Forest"]
    imagenet = load(root, "ImageNet")
    assert paths(imagenet.val) == paths(imagenet.test)
    assert all(os.sep + "val" + os.sep in p for p in paths(imagenet.test))


@pytest.mark.parametrize("name", ["ImageNetA", "ImageNetR"])
def test_200_class_variants_label_by_sorted_wnid(synth, name):
    ds = load(synth[0], name)
    wnids = sorted({p.split(os.sep)[-2] for p in paths(ds.test)})
    assert all(wnids.index(item.impath.split(os.sep)[-2]) == item.label for item in ds.test)
    imagenet = load(synth[0], "ImageNet")
    assert set(ds.classnames) < set(imagenet.classnames)


def test_test_only_variants_ignore_num_shots(synth):
    full = load(synth[0], "ImageNetSketch")
    shots = load(synth[0], "ImageNetSketch", shots=1)
    assert paths(full.test) == paths(shots.test)


# ---- few-shot --------------------------------------------------------------------------------


@pytest.mark.parametrize("num_shots", [4, 16])
@pytest.mark.parametrize("name", TRAINABLE)
def test_fewshot_counts(synth, name, num_shots):
    ds = load(synth[0], name, shots=num_shots, seed=1)
    assert set(per_label(ds.train_x).values()) == {num_shots}
    full = load(synth[0], name)
    if name == "ImageNet":  # upstream samples only train; val stays the full test set
        assert paths(ds.val) == paths(full.val)
    else:
        expected = min(num_shots, 4, IMAGES_PER_CLASS[1])
        assert set(per_label(ds.val).values()) == {expected}
    assert paths(ds.test) == paths(full.test)


@pytest.mark.parametrize("name", TRAINABLE)
def test_fewshot_equals_upstream_draw(synth, tmp_path, name):
    root = copy_datasets(synth[0], tmp_path, name)  # a private copy: no cache yet
    full = load(root, name)
    for seed in (1, 2, 3):
        random.seed(12345)  # whatever ran before must not matter
        random.random()
        ds = load(root, name, shots=4, seed=seed)
        train, val = upstream_fewshot(
            full.train_x, full.val, 4, seed, with_val=(name != "ImageNet")
        )
        assert paths(ds.train_x) == paths(train)
        assert paths(ds.val) == paths(val)


def test_fewshot_seed_dependence(synth, tmp_path):
    root = copy_datasets(synth[0], tmp_path, "OxfordPets")
    a = paths(load(root, "OxfordPets", shots=4, seed=1).train_x)
    shutil.rmtree(os.path.join(root, "oxford_pets", "split_fewshot"))
    again = paths(load(root, "OxfordPets", shots=4, seed=1).train_x)
    cached = paths(load(root, "OxfordPets", shots=4, seed=1).train_x)
    other = paths(load(root, "OxfordPets", shots=4, seed=2).train_x)
    assert a == again == cached
    assert other != a


def test_fewshot_cache_is_relative_json(synth, tmp_path):
    root = copy_datasets(synth[0], tmp_path, "OxfordPets", "ImageNet")
    for name, folder in (("OxfordPets", "oxford_pets"), ("ImageNet", "imagenet")):
        load(root, name, shots=4, seed=1)
        path = os.path.join(root, folder, "split_fewshot", "shot_4-seed_1.json")
        with open(path) as f:
            data = json.load(f)
        assert data["num_shots"] == 4 and data["seed"] == 1
        for relpath, label, classname in data["train"]:
            assert not os.path.isabs(relpath) and root not in relpath
            assert isinstance(label, int) and isinstance(classname, str)
    cache_files = os.listdir(os.path.join(root, "oxford_pets", "split_fewshot"))
    assert cache_files and all(f.endswith(".json") for f in cache_files)


def test_fewshot_cache_survives_moving_the_root(synth, tmp_path, capsys):
    old = copy_datasets(synth[0], tmp_path / "old", "DescribableTextures", "ImageNet")
    before = {n: load(old, n, shots=4, seed=1) for n in ("DescribableTextures", "ImageNet")}
    new = str(tmp_path / "new")
    shutil.copytree(old, new)
    shutil.rmtree(old)
    capsys.readouterr()
    for name, ds in before.items():
        moved = load(new, name, shots=4, seed=1)
        rel = [os.path.relpath(p, new) for p in paths(moved.train_x)]
        assert rel == [os.path.relpath(p, old) for p in paths(ds.train_x)]
        assert all(os.path.isfile(p) for p in paths(moved.train_x))
    out = capsys.readouterr().out
    assert out.count("Loading preprocessed few-shot data") == 2
    assert "Creating a" not in out and "is stale (" not in out and "Indexing" not in out


@pytest.mark.parametrize(
    "corrupt",
    ["seed", "shots", "foreign_entry", "wrong_label", "not_json", "not_object"],
)
def test_stale_fewshot_cache_is_rebuilt(synth, tmp_path, capsys, corrupt):
    root = copy_datasets(synth[0], tmp_path, "DescribableTextures")
    fresh = paths(load(root, "DescribableTextures", shots=4, seed=1).train_x)
    path = os.path.join(root, "dtd", "split_fewshot", "shot_4-seed_1.json")
    with open(path) as f:
        data = json.load(f)
    text = None
    if corrupt == "seed":
        data["seed"] = 2
    elif corrupt == "shots":
        data["num_shots"] = 8
    elif corrupt == "foreign_entry":
        data["train"][0][0] = "banded/not_in_split.jpg"
    elif corrupt == "wrong_label":
        data["train"][0][1] = data["train"][0][1] + 1
    elif corrupt == "not_json":
        text = "{not json"
    else:
        text = "[1, 2, 3]"
    with open(path, "w") as f:
        f.write(text if text is not None else json.dumps(data))
    capsys.readouterr()

    rebuilt = paths(load(root, "DescribableTextures", shots=4, seed=1).train_x)
    lines = [line for line in capsys.readouterr().out.splitlines() if "is stale (" in line]
    assert len(lines) == 1 and path in lines[0]
    assert rebuilt == fresh
    with open(path) as f:
        assert json.load(f)["seed"] == 1


# ---- splits built from the raw files ---------------------------------------------------------


def folder_split_reference(image_dir, seed, ignored=(), renamed=None):
    """The DTD-style split: seed, then per sorted class folder shuffle and cut 50/20/30."""
    random.seed(seed)
    out = {"train": [], "val": [], "test": []}
    classes = sorted(c for c in os.listdir(image_dir) if c not in ignored)
    for label, folder in enumerate(classes):
        files = sorted(os.listdir(os.path.join(image_dir, folder)))
        random.shuffle(files)
        n_train, n_val = round(len(files) * 0.5), round(len(files) * 0.2)
        cname = (renamed or {}).get(folder, folder)
        rows = [[f"{folder}/{f}", label, cname] for f in files]
        out["train"] += rows[:n_train]
        out["val"] += rows[n_train : n_train + n_val]
        out["test"] += rows[n_train + n_val :]
    return out


@pytest.mark.parametrize(
    "name, image_dir, split_file",
    [
        ("DescribableTextures", "dtd/images", "dtd/split_zhou_DescribableTextures.json"),
        ("EuroSAT", "eurosat/2750", "eurosat/split_zhou_EuroSAT.json"),
        ("Food101", "food-101/images", "food-101/split_zhou_Food101.json"),
        ("Caltech101", "caltech-101/101_ObjectCategories",
         "caltech-101/split_zhou_Caltech101.json"),
    ],
)
def test_split_built_from_class_folders(tmp_path, capsys, name, image_dir, split_file):
    classes = write_synthetic_root(str(tmp_path), [name], omit_splits=[name])
    split_path = os.path.join(str(tmp_path), split_file)
    assert not os.path.exists(split_path)
    ds = load(tmp_path, name, seed=3)
    assert os.path.exists(split_path) and "building one" in capsys.readouterr().out
    assert ds.all_classnames == classes[name]
    with open(split_path) as f:
        split = json.load(f)
    cls = DATASET_REGISTRY.get(name)
    expected = folder_split_reference(
        os.path.join(str(tmp_path), image_dir), 3, cls.ignored_folders, cls.renamed_classes
    )
    assert split == expected
    per_class = sum(IMAGES_PER_CLASS)
    assert len(split["train"]) == len(classes[name]) * round(per_class * 0.5)
    # the saved split is then used as is
    assert paths(load(tmp_path, name, seed=99).test) == paths(ds.test)


def test_flowers_split_built_from_imagelabels(tmp_path, capsys):
    classes = write_synthetic_root(str(tmp_path), ["OxfordFlowers"], omit_splits=["OxfordFlowers"])
    ds = load(tmp_path, "OxfordFlowers", seed=1)
    assert "imagelabels.mat" in capsys.readouterr().out
    assert ds.all_classnames == classes["OxfordFlowers"]
    split_path = os.path.join(str(tmp_path), "oxford_flowers", "split_zhou_OxfordFlowers.json")
    with open(split_path) as f:
        split = json.load(f)
    assert all(row[0].startswith("image_") for rows in split.values() for row in rows)
    total = sum(len(rows) for rows in split.values())
    assert total == len(classes["OxfordFlowers"]) * sum(IMAGES_PER_CLASS)


def test_imagenet_index_cache(synth, tmp_path, capsys):
    root = copy_datasets(synth[0], tmp_path, "ImageNet")
    index_path = os.path.join(root, "imagenet", "preprocessed.json")
    if os.path.exists(index_path):
        os.remove(index_path)
    first = load(root, "ImageNet")
    assert "Indexing" in capsys.readouterr().out
    with open(index_path) as f:
        index = json.load(f)
    assert set(index) == {"version", "folders", "train", "test"}
    assert index["folders"] == sorted(index["folders"])
    assert all(os.sep not in name for names in index["train"] for name in names)
    second = load(root, "ImageNet")
    assert "Loading ImageNet index" in capsys.readouterr().out
    assert paths(first.train_x) == paths(second.train_x)
    # a new class folder makes the index stale
    src = os.path.join(root, "imagenet", "images", "train", index["folders"][0])
    for split in ("train", "val"):
        shutil.copytree(
            src.replace(os.sep + "train" + os.sep, os.sep + split + os.sep),
            os.path.join(root, "imagenet", "images", split, "n01560419"),
        )
    with pytest.raises(DatasetError) as exc:  # its wnid is not in classnames.txt yet
        load(root, "ImageNet")
    assert "rebuilding" in capsys.readouterr().out
    assert "n01560419" in one_line(exc) and "classnames.txt" in one_line(exc)
    with open(os.path.join(root, "imagenet", "classnames.txt"), "a") as f:
        f.write("n01560419 bulbul\n")
    third = load(root, "ImageNet")
    assert third.num_classes == first.num_classes + 1 and third.classnames[-1] == "bulbul"


def test_variant_classnames_fall_back_to_imagenet(synth, tmp_path):
    root = copy_datasets(synth[0], tmp_path, "ImageNet", "ImageNetV2", "ImageNetR")
    own = load(root, "ImageNetV2")
    os.remove(os.path.join(root, "imagenetv2", "classnames.txt"))
    os.remove(os.path.join(root, "imagenet-rendition", "classnames.txt"))
    assert load(root, "ImageNetV2").classnames == own.classnames
    assert load(root, "ImageNetR").classnames == synth[1]["ImageNetR"]
    os.remove(os.path.join(root, "imagenet", "classnames.txt"))
    with pytest.raises(DatasetNotFoundError) as exc:
        load(root, "ImageNetV2")
    assert os.path.join(root, "imagenetv2", "classnames.txt") in one_line(exc)


# ---- broken inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", DATASET_NAMES)
def test_missing_dataset_folder(tmp_path, name):
    with pytest.raises(DatasetNotFoundError) as exc:
        load(tmp_path, name)
    message = one_line(exc)
    assert os.path.join(str(tmp_path), FOLDERS[name]) in message and "DATASETS.md" in message


@pytest.mark.parametrize(
    "name, missing",
    [
        ("OxfordPets", "oxford_pets/split_zhou_OxfordPets.json"),
        ("SUN397", "sun397/split_zhou_SUN397.json"),
        ("StanfordCars", "stanford_cars/split_zhou_StanfordCars.json"),
        ("UCF101", "ucf101/split_zhou_UCF101.json"),
        ("FGVCAircraft", "fgvc_aircraft/images_variant_val.txt"),
        ("ImageNet", "imagenet/classnames.txt"),
        ("OxfordFlowers", "oxford_flowers/imagelabels.mat"),
    ],
)
def test_missing_split_file(synth, tmp_path, name, missing):
    root = copy_datasets(synth[0], tmp_path, name)
    os.remove(os.path.join(root, missing))
    if name == "OxfordFlowers":
        os.remove(os.path.join(root, "oxford_flowers", "split_zhou_OxfordFlowers.json"))
    with pytest.raises(DatasetNotFoundError) as exc:
        load(root, name)
    message = one_line(exc)
    assert os.path.join(root, missing) in message and "DATASETS.md" in message


@pytest.mark.parametrize(
    "content",
    ["{not json", "[1, 2]", '{"train": [], "val": []}', '{"train": [[1]], "val": [], "test": []}'],
)
def test_malformed_split_file(synth, tmp_path, content):
    root = copy_datasets(synth[0], tmp_path, "OxfordPets")
    split = os.path.join(root, "oxford_pets", "split_zhou_OxfordPets.json")
    with open(split, "w") as f:
        f.write(content)
    with pytest.raises(SplitFormatError) as exc:
        load(root, "OxfordPets")
    assert split in one_line(exc)


def test_malformed_fgvc_line(synth, tmp_path):
    root = copy_datasets(synth[0], tmp_path, "FGVCAircraft")
    path = os.path.join(root, "fgvc_aircraft", "images_variant_test.txt")
    with open(path, "a") as f:
        f.write("1234567 Not A Variant\n")
    with pytest.raises(SplitFormatError) as exc:
        load(root, "FGVCAircraft")
    assert path in one_line(exc)


class StrictDatum(Datum):
    """Upstream Dassl's Datum asserts that the image file exists."""

    def __init__(self, impath="", label=0, domain=0, classname=""):
        assert os.path.isfile(impath)
        super().__init__(impath=impath, label=label, domain=domain, classname=classname)


@pytest.mark.parametrize("upstream_datum", [False, True])
@pytest.mark.parametrize("name", ["OxfordPets", "FGVCAircraft", "StanfordCars", "ImageNet"])
def test_missing_images(synth, tmp_path, monkeypatch, name, upstream_datum):
    root = copy_datasets(synth[0], tmp_path, name)
    full = load(root, name)
    gone = sorted(paths(full.test))[:2]
    for path in gone:
        os.remove(path)
    if upstream_datum:
        for module in ("coop_format", "fgvc_aircraft", "imagenet"):
            monkeypatch.setattr(f"datasets.{module}.Datum", StrictDatum)
    with pytest.raises(MissingImagesError) as exc:
        load(root, name)
    message = one_line(exc)
    assert message.startswith("2 of ") and "first: " in message
    assert message.split("first: ")[1].split(" ")[0] in gone


def test_missing_image_folder(synth, tmp_path):
    root = copy_datasets(synth[0], tmp_path, "UCF101")
    shutil.rmtree(os.path.join(root, "ucf101", "UCF-101-midframes"))
    with pytest.raises(DatasetNotFoundError) as exc:
        load(root, "UCF101")
    assert os.path.join(root, "ucf101", "UCF-101-midframes") in one_line(exc)
