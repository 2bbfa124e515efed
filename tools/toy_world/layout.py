"""A toy world's downstream dataset, written in CoOp's Caltech101 layout.

``<root>/caltech-101/101_ObjectCategories/<red_circle>/image_0001.jpg`` plus
``split_zhou_Caltech101.json``, so the shipped ``configs/datasets/caltech101.yaml`` and the
unchanged reader load it, and its template "a photo of a {}." is the hand-crafted prompt.
Labels put the base classes first, so ``SUBSAMPLE_CLASSES base`` / ``new`` split the colours.
Beside it: ``toy_world.json`` (the world) and ``toy_world_bank.json`` (the novel-class bank,
for ``TRAINER.SAR.NOVEL_SOURCE``).
"""

import json
import os
from pathlib import Path

from .draw import draw_image, image_rng, jpeg_bytes

MODEL_FILE = "toy_clip.pt"  # a world folder: <world>/toy_clip.pt and the data root <world>/data
DATA_FOLDER = "data"
DATASET_FOLDER = "caltech-101"
IMAGE_FOLDER = "101_ObjectCategories"
SPLIT_FILE = "split_zhou_Caltech101.json"
WORLD_FILE = "toy_world.json"
BANK_FILE = "toy_world_bank.json"
SPLIT_STREAMS = {"train": 2, "val": 3, "test": 4}  # the pretraining pool uses stream 1


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_dataset(root, world, counts=(32, 8, 40), size=32, style="dataset", base_scene="plain"):
    """Write the world's dataset under ``root``; returns the split (CoOp's JSON rows).

    ``base_scene``: the scene every base-class image is drawn in (new classes stay plain), a
    condition the base data share, the new data lack, and the template does not name.
    """
    n_base = len(world.base_classes)
    root = Path(root)
    image_root = root / DATASET_FOLDER / IMAGE_FOLDER
    split = {name: [] for name in SPLIT_STREAMS}
    for label, name in enumerate(world.dataset_classes):
        colour, shape = name.split(" ")
        folder = name.replace(" ", "_")
        index = 0
        for (part, stream), count in zip(SPLIT_STREAMS.items(), counts):
            for k in range(count):
                index += 1
                rel = f"{folder}/image_{index:04d}.jpg"
                rng = image_rng(world.seed, stream, label * 10_000 + k)
                scene = base_scene if label < n_base else "plain"
                pixels = draw_image(colour, shape, size, rng, style, scene)
                _write(image_root / rel, jpeg_bytes(pixels))
                split[part].append([rel, label, name])
    _write(root / DATASET_FOLDER / SPLIT_FILE, json.dumps(split, indent=1).encode())
    facts = {**world.to_json(), "style": style, "base_scene": base_scene}
    _write(root / WORLD_FILE, json.dumps(facts, indent=1).encode())
    bank = {"dataset": "toy world", "classes": world.bank,
            "provenance": "tools/toy_world: every colour x shape name of the world that is "
                          "neither a base nor a new class (stands in for an LLM's list)"}
    _write(root / BANK_FILE, json.dumps(bank, indent=1).encode())
    return split


def bank_path(root):
    return str(Path(root) / BANK_FILE)
