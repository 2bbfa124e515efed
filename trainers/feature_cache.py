"""Frozen test-set image features kept across evaluations (``TEST.FEATURE_CACHE <dir>``, opt-in).

Why: where the image tower is frozen and takes no prompt (ZS-CLIP, CoOp, CoCoOp, KgCoOp and their
SAR variants; CoCoOp's meta-net reads the frozen features), a test set's image features are the
same for every seed and method on one backbone. A sweep then decodes each test set and runs the
image tower over it once; every later evaluation reads the features and only runs the text side.
A hit opens no image and runs no image tower.

The key is everything that changes the features: the backbone (its file's SHA-256, or the random
architecture and seed), the dataset and split, the exact ordered image list (paths and labels),
the test transform settings, the precision, the device type and the compile mode. Entries are
named by the key's digest and hold the key itself, so a different key is never reused.

Layout: ``<dir>/<dataset>-<split>-<digest>/`` with ``features.npy`` (float32), ``labels.npy``
(int64) and ``manifest.json`` (the key and each file's SHA-256 and shape); no pickle. An entry is
written into a temporary folder beside it and renamed into place, so a reader sees a whole entry
or none, and when two jobs race, the second rename fails and that job keeps its own, equal,
features. A corrupt or stale entry gives a one-line warning and is rebuilt.
"""

import hashlib
import io
import json
import os
import re
import secrets
import shutil

import numpy as np
import torch

from trainers.backbone import (
    OPENAI_MODELS,
    RANDOM_PREFIX,
    canonical_model_name,
    resolve_checkpoint,
    sha256_of,
)
from trainers.compilation import compile_settings
from trainers.open_clip_backbones import activation, model_config, parse_name, weights_path

FORMAT = 1
FILES = ("features", "labels")
_SHA_CACHE = {}  # (path, size, mtime) -> SHA-256: a sweep's process hashes its backbone once


def cache_root(cfg):
    """``TEST.FEATURE_CACHE`` ('' = off), read with ``get``: an upstream config lacks it."""
    return cfg.TEST.get("FEATURE_CACHE", "") or ""


def check_root(cfg):
    """Fail before training, in one line, if TEST.FEATURE_CACHE cannot be written."""
    root = cache_root(cfg)
    if not root:
        return
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as error:
        message = f"TEST.FEATURE_CACHE {root}: cannot create it ({error.strerror})"
        raise ValueError(message) from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise ValueError(f"TEST.FEATURE_CACHE {root}: not writable")


def run_test(trainer, split, plain_test):
    """The trainer's ``test(split)``: through the cache when it is on and the image tower is
    frozen, else the engine's own loop ``plain_test``."""
    root = cache_root(trainer.cfg)
    if not root:
        return plain_test(split)
    if trainer.prompted_image_tower:
        print(f"TEST.FEATURE_CACHE is ignored: {type(trainer).__name__}'s image tower takes "
              "prompts, so its image features change with training")
        return plain_test(split)
    return evaluate(trainer, split, root)


def resolve_split(trainer, split):
    """(name, loader, data source) as Dassl's test() picks them: val only if it exists."""
    split = split or trainer.cfg.TEST.SPLIT
    if split == "val" and trainer.val_loader is not None:
        return "val", trainer.val_loader, trainer.dm.dataset.val
    return "test", trainer.test_loader, trainer.dm.dataset.test


@torch.no_grad()
def evaluate(trainer, split, root):
    """Dassl's test pass over cached features: the evaluator gets the same logits, batch by
    batch, as the plain loop, and prints the same lines."""
    split, loader, data_source = resolve_split(trainer, split)
    key = cache_key(trainer, split, data_source)
    entry = os.path.join(root, entry_name(key))
    trainer.set_model_mode("eval")
    loaded = load_entry(entry, key)
    if loaded is None:
        print(f"Feature cache: building {entry}")
        loaded = encode_split(trainer, loader)
        store_entry(entry, key, *loaded)
    else:
        print(f"Feature cache: {len(loaded[1])} image features from {entry}")
    features, labels = loaded
    print(f"Evaluate on the *{split}* set")
    trainer.evaluator.reset()
    batch = trainer.cfg.DATALOADER.TEST.BATCH_SIZE
    for start in range(0, len(labels), batch):
        chunk = features[start : start + batch].to(trainer.device)
        logits = trainer.logits_from_features(chunk)
        trainer.evaluator.process(logits, labels[start : start + batch].to(trainer.device))
    results = trainer.evaluator.evaluate()
    for name, value in results.items():
        trainer.write_scalar(f"{split}/{name}", value, trainer.epoch)
    return list(results.values())[0]


def encode_split(trainer, loader):
    """(features float32, labels int64) on the CPU, in the loader's (sequential) order."""
    features, labels = [], []
    for batch in loader:
        image, label = trainer.parse_batch_test(batch)
        features.append(trainer.encode_test_images(image).float().cpu())
        labels.append(label.cpu().long())
    return torch.cat(features), torch.cat(labels)


def cache_key(trainer, split, data_source):
    cfg = trainer.cfg
    listing = "\n".join(f"{item.impath}\t{item.label}" for item in data_source)
    settings = compile_settings(cfg) if getattr(trainer, "compiled", False) else None
    return {
        "format": FORMAT,
        "backbone": backbone_identity(cfg.MODEL.BACKBONE.NAME,
                                      cfg.MODEL.BACKBONE.get("QUICK_GELU", None)),
        "dataset": cfg.DATASET.NAME,
        "split": split,
        "subsample_classes": cfg.DATASET.get("SUBSAMPLE_CLASSES", "all"),
        "images": {"count": len(data_source),
                   "sha256": hashlib.sha256(listing.encode()).hexdigest(),
                   "first": data_source[0].impath if len(data_source) else ""},
        "transform": transform_settings(cfg, getattr(trainer.dm, "tfm_test", None)),
        "precision": trainer.prec,
        "device": trainer.device.type,
        "compile": list(settings) if settings else "",
    }


def backbone_identity(name, quick_gelu=None):
    """What identifies the weights: the random architecture, or the file's SHA-256; with the
    activation wherever a config chose it (``MODEL.BACKBONE.QUICK_GELU``, an open_clip tag)."""
    if name.startswith(RANDOM_PREFIX):
        return {"random": name[len(RANDOM_PREFIX):], "seed": 0}
    parsed = parse_name(name)
    if parsed is not None:
        quick, _source = activation(parsed, model_config(parsed), quick_gelu)
        path = weights_path(parsed)
        return {"open_clip": parsed.model, "sha256": file_sha256(path), "quick_gelu": quick}
    path = resolve_checkpoint(name)  # a named model's file is checked against its SHA here
    model = canonical_model_name(name)
    if model is not None:
        return {"sha256": OPENAI_MODELS[model][1]}
    identity = {"sha256": file_sha256(path)}
    if quick_gelu is not None:
        identity["quick_gelu"] = bool(quick_gelu)
    return identity


def file_sha256(path):
    stat = os.stat(path)
    marker = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if marker not in _SHA_CACHE:
        _SHA_CACHE[marker] = sha256_of(path)
    return _SHA_CACHE[marker]


def transform_settings(cfg, tfm_test):
    """The test transform's settings and its printed pipeline (object addresses removed)."""
    pipeline = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(tfm_test))
    return {
        "size": list(cfg.INPUT.SIZE),
        "interpolation": cfg.INPUT.INTERPOLATION,
        "pixel_mean": list(cfg.INPUT.PIXEL_MEAN),
        "pixel_std": list(cfg.INPUT.PIXEL_STD),
        "transforms": list(cfg.INPUT.TRANSFORMS),
        "no_transform": bool(cfg.INPUT.get("NO_TRANSFORM", False)),
        "pipeline": pipeline,
    }


def canonical(key):
    return json.dumps(key, sort_keys=True)


def entry_name(key):
    digest = hashlib.sha256(canonical(key).encode()).hexdigest()[:20]
    dataset = re.sub(r"[^A-Za-z0-9_.-]", "_", str(key["dataset"])) or "dataset"
    return f"{dataset}-{key['split']}-{digest}"


def load_entry(entry, key):
    """(features, labels) of a valid entry for ``key``; None (after a warning if the entry was
    there but bad, which is then removed) otherwise."""
    if not os.path.isdir(entry):
        return None
    try:
        with open(os.path.join(entry, "manifest.json")) as f:
            manifest = json.load(f)
        if canonical(manifest.get("key")) != canonical(key):
            raise ValueError("its key does not match this evaluation (stale entry)")
        arrays = [read_array(entry, name, manifest["files"][name]) for name in FILES]
        features, labels = (torch.from_numpy(array) for array in arrays)
        if features.ndim != 2 or labels.shape != (features.shape[0],):
            raise ValueError(f"shapes {tuple(features.shape)} and {tuple(labels.shape)} differ")
        if len(labels) != key["images"]["count"]:
            raise ValueError(f"{len(labels)} features for {key['images']['count']} images")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"Warning: feature cache {entry} is unusable ({message}); rebuilding it")
        discard(entry)
        return None
    return features, labels


def read_array(entry, name, expected):
    """One ``.npy`` file, checked against the SHA-256 the manifest recorded; never unpickled."""
    with open(os.path.join(entry, f"{name}.npy"), "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != expected["sha256"]:
        raise ValueError(f"{name}.npy does not match its SHA-256 in manifest.json")
    return np.load(io.BytesIO(data), allow_pickle=False)


def discard(entry):
    """Move a bad entry aside, then delete it: a concurrent writer can rename a good one in."""
    trash = f"{entry}.discard-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        os.rename(entry, trash)
    except OSError:
        return  # already gone (another job discarded or replaced it)
    shutil.rmtree(trash, ignore_errors=True)


def make_temp_dir(root):
    """A new ``.tmp-<hex>`` folder in ``root`` with the mode ``mkdir`` gives (0777 less the
    umask): ``tempfile.mkdtemp`` makes 0700 and the rename keeps it, so the other users of a
    shared cache could not read the entry."""
    for _ in range(100):
        path = os.path.join(root, f".tmp-{secrets.token_hex(6)}")
        try:
            os.mkdir(path, 0o777)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary folder in {root}")


def store_entry(entry, key, features, labels):
    """Write an entry atomically; if another job renamed its entry in first, keep that one."""
    root = os.path.dirname(entry)
    try:
        os.makedirs(root, exist_ok=True)
        tmp = make_temp_dir(root)
    except OSError as error:
        raise OSError(f"TEST.FEATURE_CACHE {root}: cannot write there ({error.strerror})") from None
    try:
        files = {}
        for name, tensor in zip(FILES, (features.float(), labels.long())):
            buffer = io.BytesIO()
            np.save(buffer, tensor.numpy(), allow_pickle=False)
            data = buffer.getvalue()
            with open(os.path.join(tmp, f"{name}.npy"), "wb") as f:
                f.write(data)
            files[name] = {"sha256": hashlib.sha256(data).hexdigest(),
                           "shape": list(tensor.shape)}
        with open(os.path.join(tmp, "manifest.json"), "w") as f:
            json.dump({"key": key, "files": files}, f, indent=1, sort_keys=True)
        try:
            os.rename(tmp, entry)
        except OSError:
            if not os.path.isdir(entry):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
