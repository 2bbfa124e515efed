"""Tiny synthetic data roots in the exact on-disk layout of the 15 CoOp datasets.

Every dataset gets its real folder and file names (split_zhou_*.json where upstream ships one,
FGVC-Aircraft's txt files, Oxford Flowers' imagelabels.mat and cat_to_name.json, ImageNet's
classnames.txt with real wnids, ...), a handful of real class names (the first classes of the
real dataset) and small JPEG images whose colour and stripe pattern depend on the class, so a
model can learn them a little. The tests, the benchmarks and ``tools/make_synthetic_data.py``
write their roots with ``write_synthetic_root``; the dataset readers never import this module.
"""

import colorsys
import hashlib
import io
import json
import os
import re

import numpy as np
from PIL import Image

# ---- real class names (first classes of each dataset, in label order) ---------------------

PETS = [  # image-file prefixes; cats are capitalised, the class name is the lower-case prefix
    "Abyssinian", "american_bulldog", "american_pit_bull_terrier", "basset_hound", "beagle",
    "Bengal", "Birman", "Bombay", "boxer", "British_Shorthair",
]
FLOWERS = [
    "pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea",
    "english marigold", "tiger lily", "moon orchid", "bird of paradise", "monkshood",
    "globe thistle",
]
AIRCRAFT = [
    "707-320", "727-200", "737-200", "A300B4", "BAE 146-200", "Cessna 172", "DC-10",
    "Falcon 2000", "Boeing 717", "Saab 340",
]
DTD = [
    "banded", "blotchy", "braided", "bubbly", "bumpy", "chequered", "cobwebbed", "cracked",
    "crosshatched", "crystalline",
]
EUROSAT = [
    ("AnnualCrop", "Annual Crop Land"), ("Forest", "Forest"),
    ("HerbaceousVegetation", "Herbaceous Vegetation Land"), ("Highway", "Highway or Road"),
    ("Industrial", "Industrial Buildings"), ("Pasture", "Pasture Land"),
    ("PermanentCrop", "Permanent Crop Land"), ("Residential", "Residential Buildings"),
    ("River", "River"), ("SeaLake", "Sea or Lake"),
]
CARS = [  # names as in cars_meta.mat; CoOp's split moves the year to the front
    "AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Acura TL Sedan 2012",
    "Acura TL Type-S 2008", "Acura TSX Sedan 2012", "Acura Integra Type R 2001",
    "Acura ZDX Hatchback 2012", "Aston Martin V8 Vantage Convertible 2012",
    "Aston Martin V8 Vantage Coupe 2012", "Aston Martin Virage Convertible 2012",
]
FOOD = [
    "apple_pie", "baby_back_ribs", "baklava", "beef_carpaccio", "beef_tartare", "beet_salad",
    "beignets", "bibimbap", "bread_pudding", "breakfast_burrito",
]
SUN = [  # entries of ClassName.txt without the leading "/"
    "a/abbey", "a/airplane_cabin", "a/airport_terminal", "a/alley", "a/amphitheater",
    "a/amusement_arcade", "a/amusement_park", "a/anechoic_chamber",
    "a/apartment_building/outdoor", "a/apse/indoor",
]
CALTECH = [
    ("Faces", "face"), ("Leopards", "leopard"), ("Motorbikes", "motorbike"),
    ("accordion", "accordion"), ("airplanes", "airplane"), ("anchor", "anchor"), ("ant", "ant"),
    ("barrel", "barrel"), ("bass", "bass"), ("beaver", "beaver"),
]
UCF = [
    "ApplyEyeMakeup", "ApplyLipstick", "Archery", "BabyCrawling", "BalanceBeam",
    "BandMarching", "BaseballPitch", "Basketball", "BasketballDunk", "BenchPress",
]
IMAGENET_WNIDS = [  # the first 20 ImageNet-1k classes
    "n01440764", "n01443537", "n01484850", "n01491361", "n01494475", "n01496331", "n01498041",
    "n01514668", "n01514859", "n01518878", "n01530575", "n01531178", "n01532829", "n01534433",
    "n01537544", "n01558993", "n01560419", "n01580077", "n01582220", "n01592084",
]
# which of those 20 are among the 200 classes of ImageNet-A / ImageNet-R
IMAGENET_A_WNIDS = {"n01498041", "n01531178", "n01534433", "n01558993", "n01580077"}
IMAGENET_R_WNIDS = {
    "n01443537", "n01484850", "n01494475", "n01498041", "n01514859", "n01518878", "n01531178",
    "n01534433",
}

DEFAULT_NUM_CLASSES = {"EuroSAT": 10, "ImageNet": 16}
DEFAULT_CLASSES = 6
IMAGES_PER_CLASS = (16, 4, 4)  # train, val, test: enough for 16-shot train and 4-shot val


def _imagenet_names():
    """open_clip's IMAGENET_CLASSNAMES for the first classes.

    The metadata file is loaded on its own: importing the open_clip package would pull in
    torch and take seconds. Falls back to the same names when open_clip is not installed.
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec("open_clip")
        path = os.path.join(os.path.dirname(spec.origin), "zero_shot_metadata.py")
        meta_spec = importlib.util.spec_from_file_location("_open_clip_zero_shot_metadata", path)
        meta = importlib.util.module_from_spec(meta_spec)
        meta_spec.loader.exec_module(meta)
        return list(meta.IMAGENET_CLASSNAMES[: len(IMAGENET_WNIDS)])
    except (AttributeError, ImportError, OSError, TypeError):
        return [
            "tench", "goldfish", "great white shark", "tiger shark", "hammerhead shark",
            "electric ray", "stingray", "rooster", "hen", "ostrich", "brambling", "goldfinch",
            "house finch", "junco", "indigo bunting", "American robin", "bulbul", "jay",
            "magpie", "chickadee",
        ]


# ---- images -------------------------------------------------------------------------------


class _Writer:
    """Writes class-coloured, class-striped JPEGs and collects split rows."""

    def __init__(self, root, counts, image_size, seed):
        self.root = root
        self.counts = dict(zip(("train", "val", "test"), counts))
        self.size = image_size
        self.rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:image_size, 0:image_size] / max(image_size, 1)
        self.grid = (yy, xx)
        self.patterns = {}

    def _pattern(self, label, n_classes):
        key = (label, n_classes)
        if key not in self.patterns:
            hue = (label / max(n_classes, 1)) % 1.0
            rgb = np.array(colorsys.hsv_to_rgb(hue, 0.75, 0.9)) * 255.0
            angle = np.pi * label / max(n_classes, 1)
            freq = 2.0 + (label % 3) * 1.5
            yy, xx = self.grid
            wave = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)))
            self.patterns[key] = rgb[None, None, :] * (0.55 + 0.45 * wave[..., None])
        return self.patterns[key]

    def image(self, path, label, n_classes):
        pixels = self._pattern(label, n_classes) + self.rng.normal(0, 10, (self.size, self.size, 3))
        buf = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(buf.getvalue())

    def classes(self, image_dir, classnames, path_fn, splits=("train", "val", "test")):
        """Write ``counts[split]`` images per class; ``path_fn(label, split, i, k)`` names them
        (``k`` counts images across all classes). Returns ``{split: [[relpath, label, name]]}``."""
        rows = {split: [] for split in ("train", "val", "test")}
        k = 0
        for label, cname in enumerate(classnames):
            for split in splits:
                for i in range(self.counts[split]):
                    k += 1
                    rel = path_fn(label, split, i, k)
                    self.image(os.path.join(image_dir, rel), label, len(classnames))
                    rows[split].append([rel, label, cname])
        return rows


def _write_text(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def _write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=4, separators=(",", ": "))


def _hexname(*parts):
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


# ---- one writer per dataset: (writer, ctx) -> class names by label ------------------------


def _split_dataset(w, ctx, folder, image_folder, split_name, classnames, path_fn):
    ds_dir = os.path.join(w.root, folder)
    rows = w.classes(os.path.join(ds_dir, image_folder), classnames, path_fn)
    if split_name not in ctx["omit"]:
        _write_json(os.path.join(ds_dir, f"split_zhou_{split_name}.json"), rows)
    return ds_dir, rows


def _pets(w, n, ctx):
    prefixes = PETS[:n]
    names = [p.lower() for p in prefixes]
    ds_dir, rows = _split_dataset(
        w, ctx, "oxford_pets", "images", "OxfordPets", names,
        lambda label, split, i, k: f"{prefixes[label]}_{k}.jpg",
    )
    species_count = {1: 0, 2: 0}
    breed_ids = []
    for prefix in prefixes:
        species = 1 if prefix[0].isupper() else 2
        species_count[species] += 1
        breed_ids.append((species, species_count[species]))
    for ann, splits in (("trainval.txt", ("train", "val")), ("test.txt", ("test",))):
        lines = []
        for split in splits:
            for rel, label, _ in rows[split]:
                species, breed = breed_ids[label]
                lines.append(f"{rel[:-4]} {label + 1} {species} {breed}")
        _write_text(os.path.join(ds_dir, "annotations", ann), lines)
    return names


def _flowers(w, n, ctx):
    from scipy.io import savemat

    names = FLOWERS[:n]
    ds_dir, rows = _split_dataset(
        w, ctx, "oxford_flowers", "jpg", "OxfordFlowers", names,
        lambda label, split, i, k: f"image_{k:05d}.jpg",
    )
    # imagelabels.mat: the 1-based class of image_00001.jpg, image_00002.jpg, ...
    numbered = sorted((int(r[6:11]), lab + 1) for items in rows.values() for r, lab, _ in items)
    labels = np.array([[lab for _, lab in numbered]], dtype=np.uint8)
    savemat(os.path.join(ds_dir, "imagelabels.mat"), {"labels": labels})
    cat_to_name = {str(i + 1): c for i, c in enumerate(names)}
    _write_json(os.path.join(ds_dir, "cat_to_name.json"), cat_to_name)
    return names


def _aircraft(w, n, ctx):
    names = AIRCRAFT[:n]
    ds_dir = os.path.join(w.root, "fgvc_aircraft")
    rows = w.classes(
        os.path.join(ds_dir, "images"), names, lambda label, split, i, k: f"{1000000 + k * 7}.jpg"
    )
    _write_text(os.path.join(ds_dir, "variants.txt"), names)
    for split, items in rows.items():
        lines = [f"{rel[:-4]} {cname}" for rel, _, cname in items]
        _write_text(os.path.join(ds_dir, f"images_variant_{split}.txt"), lines)
    return names


def _folder_dataset(w, ctx, folder, image_folder, split_name, entries, fname):
    """Folder-per-class datasets: ``entries`` = [(class folder, class name)]."""
    _split_dataset(
        w, ctx, folder, image_folder, split_name, [c for _, c in entries],
        lambda label, split, i, k: f"{entries[label][0]}/{fname(entries[label][0], k)}",
    )
    return [c for _, c in entries]


def _dtd(w, n, ctx):
    entries = [(c, c) for c in DTD[:n]]
    return _folder_dataset(w, ctx, "dtd", "images", "DescribableTextures", entries,
                           lambda c, k: f"{c}_{k:04d}.jpg")


def _eurosat(w, n, ctx):
    return _folder_dataset(w, ctx, "eurosat", "2750", "EuroSAT", EUROSAT[:n],
                           lambda c, k: f"{c}_{k}.jpg")


def _food(w, n, ctx):
    entries = [(c, c) for c in FOOD[:n]]
    return _folder_dataset(w, ctx, "food-101", "images", "Food101", entries,
                           lambda c, k: f"{1000000 + 37 * k}.jpg")


def _caltech(w, n, ctx):
    names = _folder_dataset(w, ctx, "caltech-101", "101_ObjectCategories", "Caltech101",
                            CALTECH[:n], lambda c, k: f"image_{k:04d}.jpg")
    image_dir = os.path.join(w.root, "caltech-101", "101_ObjectCategories")
    for extra in ("BACKGROUND_Google", "Faces_easy"):  # real folders that CoOp leaves out
        for i in range(2):
            w.image(os.path.join(image_dir, extra, f"image_{i + 1:04d}.jpg"), 0, 1)
    return names


def _ucf(w, n, ctx):
    entries = [(a, "_".join(re.findall("[A-Z][^A-Z]*", a))) for a in UCF[:n]]
    return _folder_dataset(w, ctx, "ucf101", "UCF-101-midframes", "UCF101", entries,
                           lambda a, k: f"v_{a}_g{k % 25 + 1:02d}_c{k % 7 + 1:02d}.jpg")


def _sun(w, n, ctx):
    entries = []
    for entry in SUN[:n]:
        # CoOp's name: the path without the letter, reversed ("outdoor apartment_building")
        entries.append((entry, " ".join(entry.split("/")[1:][::-1])))
    names = _folder_dataset(w, ctx, "sun397", "SUN397", "SUN397", entries,
                            lambda c, k: f"sun_{_hexname('sun', k)[:16]}.jpg")
    class_file = os.path.join(w.root, "sun397", "SUN397", "ClassName.txt")
    _write_text(class_file, ["/" + e for e, _ in entries])
    return names


def _cars(w, n, ctx):
    from scipy.io import savemat

    meta = CARS[:n]
    names = [" ".join([m.split(" ")[-1]] + m.split(" ")[:-1]) for m in meta]

    def path_fn(label, split, i, k):
        return f"cars_test/{k:05d}.jpg" if split == "test" else f"cars_train/{k:05d}.jpg"

    ds_dir, _ = _split_dataset(w, ctx, "stanford_cars", "", "StanfordCars", names, path_fn)
    os.makedirs(os.path.join(ds_dir, "devkit"), exist_ok=True)
    savemat(os.path.join(ds_dir, "devkit", "cars_meta.mat"),
            {"class_names": np.array(meta, dtype=object)[None, :]})
    return names


def _imagenet_classes(n):
    wnids = IMAGENET_WNIDS[:n]
    return wnids, dict(zip(wnids, _imagenet_names()[:n]))


def _write_classnames(path, ctx):
    _write_text(path, [f"{w} {c}" for w, c in ctx["imagenet"][1].items()])


def _imagenet(w, n, ctx):
    wnids, names = ctx["imagenet"]
    ds_dir = os.path.join(w.root, "imagenet")
    w.classes(os.path.join(ds_dir, "images", "train"), wnids,
              lambda label, split, i, k: f"{wnids[label]}/{wnids[label]}_{1000 + k}.JPEG",
              splits=("train",))
    w.classes(os.path.join(ds_dir, "images", "val"), wnids,
              lambda label, split, i, k: f"{wnids[label]}/ILSVRC2012_val_{k:08d}.JPEG",
              splits=("test",))
    _write_classnames(os.path.join(ds_dir, "classnames.txt"), ctx)
    return [names[x] for x in wnids]


def _variant(folder, image_folder, fname, subset=None):
    def write(w, n, ctx):
        wnids, names = ctx["imagenet"]
        used = wnids
        if subset is not None:
            used = [x for x in wnids if x in subset]
            if len(used) < 2:  # too few of the first classes are in the real subset
                used = wnids[:2]
        ds_dir = os.path.join(w.root, folder)
        if subset is None and fname is None:  # ImageNetV2: folders 0..K-1
            w.classes(os.path.join(ds_dir, image_folder), used,
                      lambda label, split, i, k: f"{label}/{_hexname('v2', k)}.jpeg",
                      splits=("test",))
        else:
            w.classes(os.path.join(ds_dir, image_folder), used,
                      lambda label, split, i, k: f"{used[label]}/{fname(names[used[label]], k)}",
                      splits=("test",))
        _write_classnames(os.path.join(ds_dir, "classnames.txt"), ctx)
        return [names[x] for x in used]

    return write


WRITERS = {
    "OxfordPets": _pets,
    "OxfordFlowers": _flowers,
    "FGVCAircraft": _aircraft,
    "DescribableTextures": _dtd,
    "EuroSAT": _eurosat,
    "StanfordCars": _cars,
    "Food101": _food,
    "SUN397": _sun,
    "Caltech101": _caltech,
    "UCF101": _ucf,
    "ImageNet": _imagenet,
    "ImageNetV2": _variant("imagenetv2", "imagenetv2-matched-frequency-format-val", None),
    "ImageNetSketch": _variant("imagenet-sketch", "images", lambda c, k: f"sketch_{k}.JPEG"),
    "ImageNetA": _variant("imagenet-adversarial", "imagenet-a",
                          lambda c, k: f"0.{k:06d}_{c} _ {c}_0.{k % 97:02d}.jpg",
                          IMAGENET_A_WNIDS),
    "ImageNetR": _variant("imagenet-rendition", "imagenet-r", lambda c, k: f"art_{k}.jpg",
                          IMAGENET_R_WNIDS),
}
MAX_CLASSES = {
    "OxfordPets": len(PETS), "OxfordFlowers": len(FLOWERS), "FGVCAircraft": len(AIRCRAFT),
    "DescribableTextures": len(DTD), "EuroSAT": len(EUROSAT), "StanfordCars": len(CARS),
    "Food101": len(FOOD), "SUN397": len(SUN), "Caltech101": len(CALTECH), "UCF101": len(UCF),
    "ImageNet": len(IMAGENET_WNIDS),
}
IMAGENET_FAMILY = ("ImageNet", "ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR")


def _num_classes(name, num_classes):
    key = "ImageNet" if name in IMAGENET_FAMILY else name
    if isinstance(num_classes, dict):
        n = num_classes.get(key, DEFAULT_NUM_CLASSES.get(key, DEFAULT_CLASSES))
    elif num_classes is None:
        n = DEFAULT_NUM_CLASSES.get(key, DEFAULT_CLASSES)
    else:
        n = int(num_classes)
    if not 2 <= n <= MAX_CLASSES[key]:
        raise ValueError(f"{key}: num_classes must be in 2..{MAX_CLASSES[key]}, got {n}")
    return n


def write_synthetic_root(
    root,
    datasets=None,
    num_classes=None,
    images_per_class=IMAGES_PER_CLASS,
    image_size=32,
    seed=0,
    omit_splits=(),
):
    """Write synthetic copies of ``datasets`` (default: all 15) under ``root``.

    ``num_classes``: None (6 per dataset, EuroSAT 10, ImageNet 16 so that its A/R subsets have
    4/8 classes), an int for all, or ``{name: int}``; the ImageNet variants follow ImageNet's
    count. ``images_per_class``: ``(train, val, test)`` per class, or one int for train (val
    and test then get a quarter of it, at least 1); ImageNet writes train and test (its val/
    folder), the test-only variants test only. ``omit_splits``: dataset names whose
    split_zhou_*.json is not written (DTD, EuroSAT, Food101, Caltech101 and OxfordFlowers can
    rebuild it). Returns ``{name: class names by label}``, i.e. each dataset's expected
    ``all_classnames``.
    """
    names = list(WRITERS) if datasets is None else list(datasets)
    unknown = [n for n in names if n not in WRITERS]
    if unknown:
        raise ValueError(f"Unknown datasets {unknown}; choose from {list(WRITERS)}")
    if isinstance(images_per_class, int):
        extra = max(1, images_per_class // 4)
        images_per_class = (images_per_class, extra, extra)
    writer = _Writer(os.path.abspath(root), tuple(images_per_class), image_size, seed)
    ctx = {"omit": set(omit_splits)}
    if any(n in IMAGENET_FAMILY for n in names):
        ctx["imagenet"] = _imagenet_classes(_num_classes("ImageNet", num_classes))
    os.makedirs(writer.root, exist_ok=True)
    return {n: WRITERS[n](writer, _num_classes(n, num_classes), ctx) for n in names}
