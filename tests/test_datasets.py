"""The 15 CoOp datasets read from a synthetic root in the upstream layout.

Covers loading (all/base/new), few-shot selection (N per class, seeded, identical to upstream's
draw, JSON cache with relative paths that survives moving the root and is rebuilt when stale)
and the one-line errors for broken inputs.
"""

import hashlib
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
from datasets.synthetic import IMAGES_PER_CLASS, write_synthetic_root

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
    ["seed", "shots", "foreign_entry", "wrong_label", "not_json", "not_object",
     "missing_class", "short_class", "duplicate_entry", "old_listing"],
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
    elif corrupt == "missing_class":  # issue 14 item 3: trained on "# classes 1"
        data["train"] = [row for row in data["train"] if row[1] != 0]
    elif corrupt == "short_class":
        data["train"] = data["train"][1:]
    elif corrupt == "duplicate_entry":
        data["train"][1] = list(data["train"][0])
    elif corrupt == "old_listing":  # an ImageNet-only header; DTD's draw has none
        data["listing"] = "filesystem"
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


def test_fewshot_cache_older_than_a_class_of_the_split_is_rebuilt(synth, tmp_path, capsys):
    """Issue 14 item 3: a cache that predates a class added to the split was used as is."""
    root = copy_datasets(synth[0], tmp_path, "DescribableTextures")
    load(root, "DescribableTextures", shots=4, seed=1)
    image_dir = os.path.join(root, "dtd", "images")
    shutil.copytree(os.path.join(image_dir, "banded"), os.path.join(image_dir, "zigzagged"))
    split_path = os.path.join(root, "dtd", "split_zhou_DescribableTextures.json")
    with open(split_path) as f:
        split = json.load(f)
    new_label = 1 + max(row[1] for row in split["train"])
    for rows in split.values():
        rows += [[r.replace("banded/", "zigzagged/", 1), new_label, "zigzagged"]
                 for r, label, _ in list(rows) if label == 0]
    with open(split_path, "w") as f:
        json.dump(split, f)
    capsys.readouterr()
    ds = load(root, "DescribableTextures", shots=4, seed=1)
    assert "is stale (train: 1 of 7 classes missing" in capsys.readouterr().out
    assert ds.num_classes == 7 and set(per_label(ds.train_x).values()) == {4}


def scrambled_listdir(real):
    """``os.listdir`` in an order that is neither sorted nor creation order (as ext4's)."""
    return lambda path: sorted(real(path), key=lambda n: hashlib.md5(n.encode()).hexdigest())


def test_imagenet_draw_follows_the_listing_order(synth, tmp_path, monkeypatch, capsys):
    """Issue 13: upstream draws from each class folder in os.listdir order, not sorted."""
    root = copy_datasets(synth[0], tmp_path, "ImageNet")
    os.remove(os.path.join(root, "imagenet", "preprocessed.json"))
    shutil.rmtree(os.path.join(root, "imagenet", "split_fewshot"), ignore_errors=True)
    monkeypatch.setattr(os, "listdir", scrambled_listdir(os.listdir))
    ds = load(root, "ImageNet", shots=4, seed=1)

    # upstream's selection from its documented behaviour: sorted class folders, files in
    # listing order, then set_random_seed(SEED) and Dassl's generate_fewshot_dataset
    train_dir = os.path.join(root, "imagenet", "images", "train")
    folders = sorted(e.name for e in os.scandir(train_dir) if e.is_dir())
    listing = [Datum(impath=os.path.join(train_dir, folder, name), label=label)
               for label, folder in enumerate(folders)
               for name in os.listdir(os.path.join(train_dir, folder)) if name[0] != "."]
    expected, _ = upstream_fewshot(listing, None, 4, 1, with_val=False)
    assert paths(ds.train_x) == paths(expected)
    by_sorted, _ = upstream_fewshot(sorted(listing, key=lambda d: (d.label, d.impath)), None, 4,
                                    1, with_val=False)
    assert paths(by_sorted) != paths(expected)  # the order matters, so the test can fail

    # caches of the old sorted reader (index version 1, few-shot without a listing) are redone
    index_path = os.path.join(root, "imagenet", "preprocessed.json")
    with open(index_path) as f:
        index = json.load(f)
    index.update(version=1, train=[sorted(n) for n in index["train"]])
    cache_path = os.path.join(root, "imagenet", "split_fewshot", "shot_4-seed_1.json")
    with open(cache_path) as f:
        cache = json.load(f)
    cache.pop("listing")
    for path, obj in ((index_path, index), (cache_path, cache)):
        with open(path, "w") as f:
            json.dump(obj, f)
    capsys.readouterr()
    again = load(root, "ImageNet", shots=4, seed=1)
    out = capsys.readouterr().out
    assert "Indexing" in out and "is stale (header says" in out
    assert paths(again.train_x) == paths(expected)


@pytest.mark.parametrize("name", ["ImageNetA", "ImageNetR"])
def test_readme_beside_the_200_class_folders(synth, tmp_path, name):
    """Issue 13: the official archives ship README.txt next to the wnid folders."""
    root = copy_datasets(synth[0], tmp_path, name)
    ds_dir = os.path.join(root, FOLDERS[name])
    image_dir = os.path.join(ds_dir, DATASET_REGISTRY.get(name).image_folder)
    with open(os.path.join(image_dir, "README.txt"), "w") as f:
        f.write("ImageNet-A/R: 200 classes\n")
    assert load(root, name).classnames == synth[1][name]
    os.makedirs(os.path.join(image_dir, "n99999999"))  # an unknown folder is still refused
    with pytest.raises(DatasetError) as exc:
        load(root, name)
    assert "n99999999" in one_line(exc) and "classnames.txt" in one_line(exc)


@pytest.mark.parametrize("name", DATASET_NAMES)
def test_stray_files_in_class_folders_are_not_images(synth, tmp_path, name):
    """Issue 13 audit: a non-image file or a subfolder in a class folder never becomes a
    sample (split-file datasets never list it; folder readers skip it)."""
    root = copy_datasets(synth[0], tmp_path, name)
    index = os.path.join(root, "imagenet", "preprocessed.json")
    if os.path.exists(index):
        os.remove(index)
    full = load(root, name)
    for folder in {os.path.dirname(p) for p in paths(full.test) + paths(full.train_x)}:
        for stray in ("notes.txt", "Thumbs.db"):
            with open(os.path.join(folder, stray), "w") as f:
                f.write("not an image\n")
        os.makedirs(os.path.join(folder, "nested.jpg"))
    if os.path.exists(index):
        os.remove(index)
    ds = load(root, name)
    assert paths(ds.train_x) == paths(full.train_x) and paths(ds.test) == paths(full.test)


@pytest.mark.parametrize(
    "name, upstream, current",
    [("EuroSAT", "2750", "EuroSAT_RGB"), ("ImageNetSketch", "images", "sketch")],
)
def test_image_folder_of_the_current_archive(synth, tmp_path, name, upstream, current):
    """Issue 16 item 10: today's archives unpack to EuroSAT_RGB/ and sketch/."""
    root = copy_datasets(synth[0], tmp_path, name)
    ds_dir = os.path.join(root, FOLDERS[name])
    before = load(root, name)
    os.rename(os.path.join(ds_dir, upstream), os.path.join(ds_dir, current))
    ds = load(root, name)
    assert [p.replace(os.sep + current + os.sep, os.sep + upstream + os.sep)
            for p in paths(ds.test)] == paths(before.test)
    os.rename(os.path.join(ds_dir, current), os.path.join(ds_dir, "elsewhere"))
    with pytest.raises(DatasetNotFoundError) as exc:
        load(root, name)
    assert os.path.join(ds_dir, upstream) in one_line(exc) and current in one_line(exc)


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
    out = capsys.readouterr().out
    assert os.path.exists(split_path) and "building one" in out
    assert f"WARNING: no CoOp split file {split_path}: a random split was built" in out
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


def test_folder_split_lists_only_images(tmp_path):
    """Issue 14 item 15: a subfolder, a symlink loop and stray files became "images", and a
    file beside the class folders shifted the labels."""
    name = "DescribableTextures"
    write_synthetic_root(str(tmp_path), [name], omit_splits=[name])
    image_dir = os.path.join(str(tmp_path), "dtd", "images")
    images = {f"{c}/{n}" for c in os.listdir(image_dir)
              for n in os.listdir(os.path.join(image_dir, c))}
    with open(os.path.join(image_dir, "README.txt"), "w") as f:
        f.write("stray\n")
    os.makedirs(os.path.join(image_dir, "banded", "more.jpg"))
    os.symlink("loop.jpg", os.path.join(image_dir, "banded", "loop.jpg"))
    os.symlink(image_dir, os.path.join(image_dir, "blotchy", "up.jpg"))
    with open(os.path.join(image_dir, "bubbly", "notes.txt"), "w") as f:
        f.write("stray\n")
    load(tmp_path, "DescribableTextures", seed=1)
    with open(os.path.join(str(tmp_path), "dtd", "split_zhou_DescribableTextures.json")) as f:
        split = json.load(f)
    rows = [row for part in split.values() for row in part]
    assert {row[0] for row in rows} == images
    assert {row[1] for row in rows} == set(range(len(os.listdir(image_dir)) - 1))


def test_bad_built_split_is_never_saved(tmp_path):
    """Issue 14 item 15: a split is saved only after it validates. Here two Caltech folders
    map onto one class name (``airplanes`` is renamed ``airplane``)."""
    write_synthetic_root(str(tmp_path), ["Caltech101"], omit_splits=["Caltech101"])
    image_dir = os.path.join(str(tmp_path), "caltech-101", "101_ObjectCategories")
    shutil.copytree(os.path.join(image_dir, "airplanes"), os.path.join(image_dir, "airplane"))
    with pytest.raises(SplitFormatError) as exc:
        load(tmp_path, "Caltech101", seed=1)
    assert f"split built from {image_dir}" in one_line(exc) and "'airplane'" in one_line(exc)
    assert not os.path.exists(os.path.join(str(tmp_path), "caltech-101",
                                           "split_zhou_Caltech101.json"))


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
