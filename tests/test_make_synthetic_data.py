"""tools/make_synthetic_data.py writes the exact upstream layout of every dataset."""

import json
import os

import numpy as np
import pytest
from PIL import Image
from scipy.io import loadmat

from datasets.synthetic import IMAGENET_A_WNIDS, IMAGENET_R_WNIDS, WRITERS, write_synthetic_root
from tools.make_synthetic_data import main

SPLIT_FILES = {
    "OxfordPets": ("oxford_pets", "images"),
    "OxfordFlowers": ("oxford_flowers", "jpg"),
    "DescribableTextures": ("dtd", "images"),
    "EuroSAT": ("eurosat", "2750"),
    "StanfordCars": ("stanford_cars", ""),
    "Food101": ("food-101", "images"),
    "SUN397": ("sun397", "SUN397"),
    "Caltech101": ("caltech-101", "101_ObjectCategories"),
    "UCF101": ("ucf101", "UCF-101-midframes"),
}
LAYOUT = [
    "oxford_pets/images", "oxford_pets/annotations/trainval.txt",
    "oxford_pets/annotations/test.txt", "oxford_flowers/jpg/image_00001.jpg",
    "oxford_flowers/imagelabels.mat", "oxford_flowers/cat_to_name.json",
    "fgvc_aircraft/images", "fgvc_aircraft/variants.txt",
    "fgvc_aircraft/images_variant_train.txt", "fgvc_aircraft/images_variant_val.txt",
    "fgvc_aircraft/images_variant_test.txt", "dtd/images/banded", "eurosat/2750/AnnualCrop",
    "eurosat/2750/SeaLake", "stanford_cars/cars_train", "stanford_cars/cars_test",
    "stanford_cars/devkit/cars_meta.mat", "food-101/images/apple_pie", "sun397/SUN397/a/abbey",
    "sun397/SUN397/ClassName.txt", "caltech-101/101_ObjectCategories/Faces",
    "caltech-101/101_ObjectCategories/BACKGROUND_Google",
    "ucf101/UCF-101-midframes/ApplyEyeMakeup", "imagenet/images/train/n01440764",
    "imagenet/images/val/n01440764", "imagenet/classnames.txt",
    "imagenetv2/imagenetv2-matched-frequency-format-val/0",
    "imagenetv2/imagenetv2-matched-frequency-format-val/15", "imagenetv2/classnames.txt",
    "imagenet-sketch/images/n01440764", "imagenet-sketch/classnames.txt",
    "imagenet-adversarial/imagenet-a/n01498041", "imagenet-adversarial/classnames.txt",
    "imagenet-rendition/imagenet-r/n01443537", "imagenet-rendition/classnames.txt",
]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("synthetic"))
    return path, write_synthetic_root(path)


def test_exact_upstream_layout(root):
    path, classes = root
    assert sorted(classes) == sorted(WRITERS) and len(classes) == 15
    for rel in LAYOUT:
        assert os.path.exists(os.path.join(path, rel)), rel
    assert sorted(os.listdir(os.path.join(path, "eurosat", "2750"))) == sorted(
        ["AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture",
         "PermanentCrop", "Residential", "River", "SeaLake"]
    )
    assert classes["EuroSAT"] == [
        "Annual Crop Land", "Forest", "Herbaceous Vegetation Land", "Highway or Road",
        "Industrial Buildings", "Pasture Land", "Permanent Crop Land", "Residential Buildings",
        "River", "Sea or Lake",
    ]


@pytest.mark.parametrize("name", sorted(SPLIT_FILES))
def test_split_files(root, name):
    path, classes = root
    folder, image_folder = SPLIT_FILES[name]
    with open(os.path.join(path, folder, f"split_zhou_{name}.json")) as f:
        split = json.load(f)
    assert sorted(split) == ["test", "train", "val"]
    for rows in split.values():
        for relpath, label, classname in rows:
            assert not os.path.isabs(relpath)
            assert os.path.isfile(os.path.join(path, folder, image_folder, relpath))
            assert classes[name][label] == classname


def test_dataset_specific_files(root):
    path, classes = root
    with open(os.path.join(path, "imagenet", "classnames.txt")) as f:
        lines = f.read().splitlines()
    assert lines[:2] == ["n01440764 tench", "n01443537 goldfish"] and len(lines) == 16
    a_folders = os.listdir(os.path.join(path, "imagenet-adversarial", "imagenet-a"))
    r_folders = os.listdir(os.path.join(path, "imagenet-rendition", "imagenet-r"))
    assert set(a_folders) <= IMAGENET_A_WNIDS and len(a_folders) == 4
    assert set(r_folders) <= IMAGENET_R_WNIDS and len(r_folders) == 8
    with open(os.path.join(path, "fgvc_aircraft", "images_variant_train.txt")) as f:
        first = f.readline().rstrip("\n")
    imageid, variant = first.split(" ", 1)
    assert len(imageid) == 7 and variant == classes["FGVCAircraft"][0]
    assert os.path.isfile(os.path.join(path, "fgvc_aircraft", "images", imageid + ".jpg"))
    labels = loadmat(os.path.join(path, "oxford_flowers", "imagelabels.mat"))["labels"].ravel()
    assert labels.min() == 1 and labels.max() == len(classes["OxfordFlowers"])
    assert len(labels) == len(os.listdir(os.path.join(path, "oxford_flowers", "jpg")))
    with open(os.path.join(path, "oxford_flowers", "cat_to_name.json")) as f:
        assert json.load(f)["1"] == "pink primrose"
    assert classes["StanfordCars"][0] == "2000 AM General Hummer SUV"
    assert classes["UCF101"][0] == "Apply_Eye_Makeup"
    assert classes["Caltech101"][:3] == ["face", "leopard", "motorbike"]


def _mean_rgb(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64).mean(axis=(0, 1))


def test_images_are_class_dependent(root):
    path, _ = root
    image_dir = os.path.join(path, "dtd", "images")
    means = {}
    for cls in sorted(os.listdir(image_dir))[:3]:
        files = sorted(os.listdir(os.path.join(image_dir, cls)))[:2]
        means[cls] = [_mean_rgb(os.path.join(image_dir, cls, f)) for f in files]
    within = max(np.abs(a - b).max() for a, b in means.values())
    classes = list(means)
    between = min(
        np.abs(means[x][0] - means[y][0]).max()
        for i, x in enumerate(classes) for y in classes[i + 1 :]
    )
    assert between > 3 * within
    class_dir = os.path.join(image_dir, classes[0])
    first = os.path.join(class_dir, sorted(os.listdir(class_dir))[0])
    with Image.open(first) as im:
        assert im.format == "JPEG" and im.size == (32, 32)


def test_counts_and_options(tmp_path):
    classes = write_synthetic_root(
        str(tmp_path), ["DescribableTextures", "ImageNet", "ImageNetA"], num_classes=3,
        images_per_class=(5, 2, 1), image_size=16, omit_splits=["DescribableTextures"],
    )
    assert len(classes["DescribableTextures"]) == 3 and len(classes["ImageNet"]) == 3
    assert len(classes["ImageNetA"]) == 2  # too few real A classes among 3: fallback subset
    split = os.path.join(str(tmp_path), "dtd", "split_zhou_DescribableTextures.json")
    assert not os.path.exists(split)
    assert len(os.listdir(os.path.join(str(tmp_path), "dtd", "images", "banded"))) == 8
    train = os.path.join(str(tmp_path), "imagenet", "images", "train", "n01440764")
    val = os.path.join(str(tmp_path), "imagenet", "images", "val", "n01440764")
    assert len(os.listdir(train)) == 5 and len(os.listdir(val)) == 1
    assert not os.path.exists(os.path.join(str(tmp_path), "oxford_pets"))


def test_deterministic(tmp_path):
    a = str(tmp_path / "a")
    b = str(tmp_path / "b")
    write_synthetic_root(a, ["EuroSAT"], seed=3)
    write_synthetic_root(b, ["EuroSAT"], seed=3)
    forest = os.path.join("eurosat", "2750", "Forest")
    f = os.path.join(forest, sorted(os.listdir(os.path.join(a, forest)))[0])
    with open(os.path.join(a, f), "rb") as fa, open(os.path.join(b, f), "rb") as fb:
        assert fa.read() == fb.read()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="Unknown datasets"):
        write_synthetic_root(str(tmp_path), ["NotADataset"])
    with pytest.raises(ValueError, match="num_classes"):
        write_synthetic_root(str(tmp_path), ["OxfordPets"], num_classes=500)


def test_cli(tmp_path, capsys):
    rc = main(["--root", str(tmp_path), "--datasets", "Food101", "UCF101", "--num-classes", "2",
               "--train", "2", "--val", "1", "--test", "1"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "Food101: 2 classes" in out and "Wrote 2 datasets" in out
    assert os.path.isfile(os.path.join(str(tmp_path), "food-101", "split_zhou_Food101.json"))


def test_cli_takes_config_stems_and_refuses_unknown_names(tmp_path, capsys):
    rc = main(["--root", str(tmp_path), "--datasets", "eurosat", "DTD", "--num-classes", "2",
               "--train", "2", "--val", "1", "--test", "1", "--omit-splits", "dtd"])
    assert rc == 0
    assert "EuroSAT: 2 classes" in capsys.readouterr().out
    assert os.path.isfile(os.path.join(str(tmp_path), "eurosat", "split_zhou_EuroSAT.json"))
    assert not os.path.exists(os.path.join(str(tmp_path), "dtd", "split_zhou_"
                                           "DescribableTextures.json"))  # fmt: skip
    with pytest.raises(SystemExit, match="unknown dataset 'eurosta'.*config stems .*eurosat"):
        main(["--root", str(tmp_path), "--datasets", "eurosta"])


@pytest.mark.parametrize("tool", ["make_synthetic_data", "make_tiny_clip"])
def test_help_describes_every_option_with_its_default(tool, capsys):
    import importlib

    with pytest.raises(SystemExit):
        importlib.import_module(f"tools.{tool}").main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    options = [word for word in text.split() if word.startswith("--") and word != "--help"]
    assert options
    for option in set(options):
        described = text.split(f" {option} ")[-1].split(" --")[0]
        assert "default" in described or option == "--root", (option, described)


def test_the_program_runs_in_a_fresh_process_from_another_folder(tmp_path):
    """As the README runs it: a new interpreter, so nothing imported by the tests helps it."""
    import subprocess
    import sys

    tool = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools",
                        "make_synthetic_data.py")
    done = subprocess.run([sys.executable, tool, "--root", str(tmp_path / "d"), "--datasets",
                           "eurosat"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "d" / "eurosat").is_dir()
