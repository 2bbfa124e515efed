"""The image size and normalization the backbone was trained with, in the config and the log.

OpenAI names and checkpoint paths keep the configured values, as always (every shipped YAML
sets CLIP's OpenAI mean/std and 224). For an open_clip ``model:tag`` the values come from
open_clip's configs: ``fill_input`` writes them into a config that only carries the stock values
(CLIP's constants or size 224, or Dassl's ImageNet defaults), before the data loaders are built.
Any other value is the config's own choice: it is kept, and ``check_normalization`` warns.
"""

from open_clip.constants import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    OPENAI_DATASET_MEAN,
    OPENAI_DATASET_STD,
)

from trainers.open_clip_backbones import BackboneInput, backbone_input

STOCK_SIZE = (224, 224)
STOCK = {"PIXEL_MEAN": (OPENAI_DATASET_MEAN, IMAGENET_MEAN),
         "PIXEL_STD": (OPENAI_DATASET_STD, IMAGENET_STD)}
CLIP_CONSTANTS = "CLIP's OpenAI constants"


def same(values, reference, tolerance=1e-6):
    values = [float(v) for v in values]
    return len(values) == len(reference) and all(
        abs(a - b) <= tolerance for a, b in zip(values, reference))


def fill_input(cfg):
    """Put an open_clip backbone's size, mean and std into ``cfg`` (not frozen) where it holds
    only the stock values; return the keys changed."""
    wanted = backbone_input(cfg.MODEL.BACKBONE.NAME)
    if wanted is None:
        return []
    changed = []
    if tuple(cfg.INPUT.SIZE) == STOCK_SIZE and wanted.size != STOCK_SIZE:
        cfg.INPUT.SIZE = wanted.size
        changed.append("SIZE")
    for key, value in (("PIXEL_MEAN", wanted.mean), ("PIXEL_STD", wanted.std)):
        current = cfg.INPUT[key]
        if not same(current, value) and any(same(current, stock) for stock in STOCK[key]):
            cfg.INPUT[key] = list(value)
            changed.append(key)
    return changed


def expected_input(cfg):
    """What the backbone wants: open_clip's configs, or CLIP's constants for the other names."""
    wanted = backbone_input(cfg.MODEL.BACKBONE.NAME)
    if wanted is not None:
        return wanted
    return BackboneInput(tuple(cfg.INPUT.SIZE), OPENAI_DATASET_MEAN, OPENAI_DATASET_STD,
                         CLIP_CONSTANTS)


def check_normalization(cfg):
    """Say in the log which mean/std the images get and where they come from; warn where the
    config's own values differ from the backbone's (they are used: the config wins)."""
    wanted = expected_input(cfg)
    differs = False
    for key, value in (("PIXEL_MEAN", wanted.mean), ("PIXEL_STD", wanted.std)):
        current = [float(v) for v in cfg.INPUT[key]]
        if not same(current, value, tolerance=1e-3):
            differs = True
            print(f"Warning: INPUT.{key} {current} is not the backbone's {list(value)} (from "
                  f"{wanted.source}): the config's value is used")
    if not differs:
        print(f"Input: size {tuple(cfg.INPUT.SIZE)}, mean {list(wanted.mean)}, std "
              f"{list(wanted.std)} (the backbone's, from {wanted.source})")
