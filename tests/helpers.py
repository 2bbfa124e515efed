"""Shared test fixtures' building blocks: the tiny CLIP and a synthetic data root."""

import os

from tools.make_tiny_clip import write_tiny_clip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_clip_path(directory):
    path = os.path.join(str(directory), "tiny_clip.pt")
    if not os.path.exists(path):
        write_tiny_clip(path)
    return path


TINY_OPTS = [
    "INPUT.SIZE", "(32, 32)",
    "OPTIM.MAX_EPOCH", "1",
    "DATASET.NUM_SHOTS", "2",
    "USE_CUDA", "False",
    "DATALOADER.NUM_WORKERS", "0",
]
