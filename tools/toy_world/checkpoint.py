"""The shipped toy CLIP: a compact file that expands into a checkpoint in OpenAI's key layout.

Only the trained tensors are stored: every weight except the token embedding, plus the rows of
the token embedding that pretraining used. The other 49k rows are the random init, rebuilt
from the init seed by ``trainers.random_clip``, so the file stays under a megabyte. It holds
tensors, numbers and strings only and is read with ``weights_only=True``: loading it runs no
code. The expanded ``.pt`` is an ordinary OpenAI-layout state dict that ``load_clip`` reads
through the same path as ``ViT-B-16.pt``.
"""

import json
import os
import tempfile
from pathlib import Path

import torch

from trainers.random_clip import random_clip_state_dict

FORMAT = "toy-clip-compact-v1"
TOKEN_KEY = "token_embedding.weight"
SHIPPED = Path(__file__).with_name("toy_clip_seed0.pt")  # worlds 0/1: the pipeline check
STRESS = Path(__file__).with_name("toy_clip_seed0_nocrop.pt")  # crop-naive: the stress world
FAITHFUL = Path(__file__).with_name("toy_clip_faithful.pt")  # scale 100, scenes: docs/toy_world.md


def _save_atomic(obj, path):
    """torch.save to a temporary file beside ``path``, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_compact(path, state, token_ids, arch, init_seed, meta):
    """Write the compact file of a pretrained toy CLIP."""
    tensors = {k: v.float().contiguous() for k, v in state.items() if k != TOKEN_KEY}
    return _save_atomic({
        "format": FORMAT,
        "arch": json.dumps(arch, sort_keys=True),
        "init_seed": int(init_seed),
        "meta": json.dumps(meta, sort_keys=True),
        "tensors": tensors,
        "token_ids": token_ids.long(),
        "token_rows": state[TOKEN_KEY][token_ids].float().contiguous(),
    }, path)


def read_compact(path):
    """``(full OpenAI-layout state dict, meta)`` from a compact file; one line on a bad file."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"{path}: not a toy CLIP file ({type(error).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a toy CLIP file (expected format {FORMAT!r})")
    try:
        arch, meta = json.loads(data["arch"]), json.loads(data["meta"])
        state = random_clip_state_dict(**arch, seed=data["init_seed"])
        for key, value in data["tensors"].items():
            if key not in state or state[key].shape != value.shape:
                raise ValueError(f"tensor {key} does not fit the architecture")
            state[key] = value
        state[TOKEN_KEY][data["token_ids"]] = data["token_rows"]
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as error:
        raise ValueError(f"{path}: damaged toy CLIP file ({error})") from None
    return state, meta


def write_clip_checkpoint(state, path):
    """The expanded model as a plain ``torch.save`` state dict, OpenAI's key layout."""
    return _save_atomic(state, path)
