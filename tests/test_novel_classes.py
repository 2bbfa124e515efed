"""The shipped SAR novel-class banks: well-formed, large enough, and free of test classes.

A bank entry that names a class of its dataset (base or new) would hand SAR the unseen class
names and void every base-to-new number, so besides exact matches after normalisation this also
rejects cheap paraphrases: plural/singular, re-ordered or run-together words, a generic head word
("cat", "indoor", ...) added or dropped, and a car in another model year.
"""

import datetime
import json
import math
import re
from pathlib import Path

import pytest

from trainers.novel_bank import BANK_DIR, load_novel_bank, normalize_classname

CLASSNAMES_DIR = Path(__file__).resolve().parent / "data" / "dataset_classnames"

# Number of classes of each dataset (all of them: base + new).
NUM_CLASSES = {
    "OxfordPets": 37,
    "OxfordFlowers": 102,
    "FGVCAircraft": 100,
    "DescribableTextures": 47,
    "EuroSAT": 10,
    "StanfordCars": 196,
    "Food101": 101,
    "SUN397": 397,
    "Caltech101": 100,
    "UCF101": 101,
    "ImageNet": 1000,
}
DATASETS = sorted(NUM_CLASSES)
# A bank holds at least as many names as the dataset has base classes, and 20 for tiny datasets.
MIN_SIZE = {name: max(math.ceil(n / 2), 20 if n <= 40 else 0) for name, n in NUM_CLASSES.items()}

GENERIC_WORDS = {
    "a", "an", "the", "of", "or", "and", "cat", "dog", "flower", "aircraft", "texture", "land",
    "food", "scene", "indoor", "outdoor", "exterior", "interior", "public",
}


# Other spellings of the same classes used by CLIP's prompt lists, CuPL or the raw datasets. The
# loader only knows the names CoOp's split files use; the banks must avoid these too.
ALIASES = {
    "OxfordFlowers": ["air plant", "lotus lotus", "pink and yellow dahlia", "globe flower"],
    "EuroSAT": [
        "AnnualCrop", "HerbaceousVegetation", "PermanentCrop", "SeaLake",
        "brushland or shrubland", "lake or sea", "industrial buildings or commercial buildings",
        "residential buildings or homes or apartments",
    ],
    "Caltech101": [
        "Faces", "Faces_easy", "Leopards", "Motorbikes", "airplanes", "off-center face",
        "centered face", "side of a car", "snoopy (cartoon beagle)", "yin and yang symbol",
    ],
    "UCF101": ["Hand Stand Pushups"],
    "OxfordPets": ["german shorthaired pointer", "st bernard"],
}


def dataset_classnames(name):
    if name == "ImageNet":
        from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

        return list(IMAGENET_CLASSNAMES)
    lines = (CLASSNAMES_DIR / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


def load_bank_json(name):
    with open(BANK_DIR / f"{name}.json", encoding="utf-8") as f:
        return json.load(f)


def _singular(word):
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("es"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def variant_keys(name):
    """Spellings under which two names count as the same class."""
    norm = normalize_classname(name)
    words = [w for w in norm.split() if not re.fullmatch(r"(19|20)\d\d", w)]  # car model years
    singular = [_singular(w) for w in words]
    core = [w for w in singular if w not in GENERIC_WORDS]
    keys = {
        norm,
        norm.replace(" ", ""),
        " ".join(sorted(norm.split())),
        " ".join(singular),
        "".join(singular),
        " ".join(sorted(singular)),
    }
    if core:
        keys |= {" ".join(sorted(core)), "".join(core)}
    keys.discard("")
    return keys


def test_every_dataset_has_exactly_one_bank():
    shipped = sorted(p.stem for p in BANK_DIR.glob("*.json"))
    assert shipped == DATASETS


@pytest.mark.parametrize("name", DATASETS)
def test_classname_list_is_complete(name):
    classes = dataset_classnames(name)
    assert len(classes) == NUM_CLASSES[name]
    # CLIP's cleaned ImageNet names repeat two ("missile", "sunglasses"); the others are unique.
    repeats = 2 if name == "ImageNet" else 0
    assert len({normalize_classname(c) for c in classes}) == len(classes) - repeats


@pytest.mark.parametrize("name", DATASETS)
def test_bank_format_and_provenance(name):
    data = load_bank_json(name)
    assert data["dataset"] == name
    classes = data["classes"]
    assert isinstance(classes, list)
    assert all(isinstance(c, str) and c.strip() == c and c for c in classes)
    prov = data["provenance"]
    for field in ("model", "prompt", "date", "method"):
        assert isinstance(prov.get(field), str) and prov[field].strip(), field
    datetime.date.fromisoformat(prov["date"])
    assert name in prov["prompt"]
    assert "notes" in data


@pytest.mark.parametrize("name", DATASETS)
def test_bank_size_floor(name):
    assert len(load_bank_json(name)["classes"]) >= MIN_SIZE[name]


@pytest.mark.parametrize("name", DATASETS)
def test_bank_has_no_duplicates(name):
    classes = load_bank_json(name)["classes"]
    seen = {}
    for entry in classes:
        key = normalize_classname(entry)
        assert key not in seen, f"{entry!r} duplicates {seen[key]!r}"
        seen[key] = entry


@pytest.mark.parametrize("name", DATASETS)
def test_bank_contains_no_dataset_class(name):
    classes = dataset_classnames(name) + ALIASES.get(name, [])
    exact = {normalize_classname(c) for c in classes}
    near = {}
    for c in classes:
        for key in variant_keys(c):
            near.setdefault(key, c)
    for entry in load_bank_json(name)["classes"]:
        assert normalize_classname(entry) not in exact, f"{entry!r} is a class of {name}"
        hits = sorted({near[k] for k in variant_keys(entry) if k in near})
        assert not hits, f"{entry!r} is a near-duplicate of {name} class(es) {hits}"


@pytest.mark.parametrize("name", DATASETS)
def test_loader_keeps_every_shipped_entry(name):
    logs = []
    bank = load_novel_bank("llm", name, dataset_classnames(name), logger=logs.append)
    assert bank == load_bank_json(name)["classes"]
    assert f"dropped 0 entries that match class names of {name}" in logs[0]


def test_near_duplicate_rules_catch_paraphrases():
    """The rules above would flag the usual ways an LLM restates a class."""
    pairs = [
        ("Persian cat", "persian"),
        ("Industrial Building", "Industrial Buildings"),
        ("apartment building outdoor", "outdoor apartment_building"),
        ("pullups", "Pull_Ups"),
        ("2013 Audi S4 Sedan", "2012 Audi S4 Sedan"),
        ("Creme Brûlée", "creme_brulee"),
    ]
    for entry, cls in pairs:
        assert variant_keys(entry) & variant_keys(cls), (entry, cls)
    assert not variant_keys("scottish fold") & variant_keys("scottish_terrier")
