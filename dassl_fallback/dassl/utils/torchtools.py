"""Checkpoint I/O and small model helpers.

Everything this module saves loads with ``torch.load(..., weights_only=True)``; see
:func:`load_checkpoint` for how older upstream-Dassl checkpoints are still read safely.
"""

import os
import os.path as osp
import re
import shutil
import warnings
from collections import OrderedDict

import torch
import torch.nn as nn

from dassl.utils import safe_pickle
from dassl.utils.tools import atomic_write, mkdir_if_missing

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "resume_from_checkpoint",
    "open_all_layers",
    "open_specified_layers",
    "count_num_param",
    "load_pretrained_weights",
    "init_network_weights",
    "set_bn_to_eval",
]


def save_checkpoint(state, save_dir, is_best=False, remove_module_from_keys=True, model_name=""):
    """Write ``save_dir/model.pth.tar-<epoch>`` (or ``model_name``) and the ``checkpoint`` pointer.

    ``state`` is ``{"state_dict", "epoch", "optimizer", "scheduler", "val_result"}`` with
    optimizer/scheduler given as their ``state_dict()``s, so the file stays weights-only.
    """
    mkdir_if_missing(save_dir)
    if remove_module_from_keys:
        state_dict = state["state_dict"]
        new_state_dict = OrderedDict()
        for k, v in state_dict.items():
            new_state_dict[k[7:] if k.startswith("module.") else k] = v
        state = dict(state)
        state["state_dict"] = new_state_dict

    if not model_name:
        model_name = "model.pth.tar-" + str(state["epoch"])
    fpath = osp.join(save_dir, model_name)
    atomic_write(fpath, lambda f: torch.save(state, f))
    print(f"Checkpoint saved to {fpath}")

    pointer = osp.basename(fpath) + "\n"
    atomic_write(osp.join(save_dir, "checkpoint"), lambda f: f.write(pointer), "w")

    if is_best:
        best_fpath = osp.join(save_dir, "model-best.pth.tar")
        with open(fpath, "rb") as source:
            atomic_write(best_fpath, lambda f: shutil.copyfileobj(source, f))
        print(f'Best checkpoint saved to "{best_fpath}"')


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_checkpoint(fpath):
    """Load a checkpoint onto the CPU without ever executing code from the file.

    Tries ``weights_only=True`` first. If that is refused (an upstream-Dassl checkpoint that
    pickles its scheduler object), it is read again through :mod:`dassl.utils.safe_pickle`,
    which rebuilds tensors and containers and turns any other object into an inert
    placeholder. Errors are one line and name the file.
    """
    if fpath is None:
        raise ValueError("File path is None")
    fpath = os.fspath(fpath)
    if not osp.exists(fpath):
        raise FileNotFoundError(f'Checkpoint file not found at "{fpath}"')
    try:
        return torch.load(fpath, map_location="cpu", weights_only=True)
    except Exception as e:
        first_error = e
    try:
        # weights_only=False only together with the restricted unpickler: nothing foreign runs
        checkpoint = torch.load(fpath, "cpu", pickle_module=safe_pickle, weights_only=False)
    except Exception as e:
        raise RuntimeError(
            f'Cannot load checkpoint "{fpath}": {_first_line(first_error)} ({_first_line(e)})'
        ) from None
    print(
        f'Note: "{fpath}" is not a weights-only checkpoint; loaded it with the restricted '
        "unpickler (non-tensor objects were replaced by inert placeholders)"
    )
    return checkpoint


def resume_from_checkpoint(fdir, model, optimizer=None, scheduler=None):
    """Restore model/optimizer/scheduler from the file the ``checkpoint`` pointer names.

    Returns the epoch to start from (the number of epochs already done).
    """
    pointer = osp.join(fdir, "checkpoint")
    model_name = None
    if osp.isfile(pointer):
        with open(pointer) as f:
            model_name = f.readline().strip()
    if not model_name or not osp.isfile(osp.join(fdir, model_name)):
        model_name = _latest_epoch_file(fdir)
        if model_name is None:
            raise FileNotFoundError(f'No checkpoint to resume from in "{fdir}"')
    fpath = osp.join(fdir, model_name)
    print(f'Loading checkpoint from "{fpath}"')
    checkpoint = load_checkpoint(fpath)
    model.load_state_dict(checkpoint["state_dict"])
    print("Loaded model weights")
    if optimizer is not None and isinstance(checkpoint.get("optimizer"), dict):
        optimizer.load_state_dict(checkpoint["optimizer"])
        print("Loaded optimizer")
    if scheduler is not None and isinstance(checkpoint.get("scheduler"), dict):
        scheduler.load_state_dict(checkpoint["scheduler"])
        print("Loaded scheduler")
    start_epoch = checkpoint["epoch"]
    print(f"Previous epoch: {start_epoch}")
    return start_epoch


def has_checkpoint(fdir):
    """Whether ``fdir`` holds something :func:`resume_from_checkpoint` can start from."""
    pointer = osp.join(fdir, "checkpoint")
    return osp.isfile(pointer) or _latest_epoch_file(fdir) is not None


def _latest_epoch_file(fdir):
    best = None
    for name in os.listdir(fdir) if osp.isdir(fdir) else []:
        m = re.fullmatch(r"model\.pth\.tar-(\d+)", name)
        if m and (best is None or int(m.group(1)) > best[0]):
            best = (int(m.group(1)), name)
    return best[1] if best else None


def set_bn_to_eval(m):
    if m.__class__.__name__.find("BatchNorm") != -1:
        m.eval()


def open_all_layers(model):
    model.train()
    for p in model.parameters():
        p.requires_grad = True


def open_specified_layers(model, open_layers):
    """Train only the named child modules; freeze the rest."""
    if isinstance(model, nn.DataParallel):
        model = model.module
    if isinstance(open_layers, str):
        open_layers = [open_layers]
    children = dict(model.named_children())
    for layer in open_layers:
        if layer not in children:
            raise ValueError(f'"{layer}" is not an attribute of the model, please provide the '
                             "correct name")
    for name, module in children.items():
        train = name in open_layers
        module.train(train)
        for p in module.parameters():
            p.requires_grad = train


def count_num_param(model=None, params=None):
    if model is not None:
        return sum(p.numel() for p in model.parameters())
    if params is not None:
        total = 0
        for p in params:
            if isinstance(p, dict):
                total += sum(q.numel() for q in p["params"])
            else:
                total += p.numel()
        return total
    raise ValueError("model and params must provide at least one.")


def load_pretrained_weights(model, weight_path):
    """Non-strict load: keep only entries whose name and shape match the model."""
    checkpoint = load_checkpoint(weight_path)
    if isinstance(checkpoint, dict) and "state_dict" in checkpoint:
        state_dict = checkpoint["state_dict"]
    else:
        state_dict = checkpoint
    model_dict = model.state_dict()
    new_state_dict = OrderedDict()
    matched, discarded = [], []
    for k, v in state_dict.items():
        if k.startswith("module."):
            k = k[7:]
        if k in model_dict and torch.is_tensor(v) and model_dict[k].size() == v.size():
            new_state_dict[k] = v
            matched.append(k)
        else:
            discarded.append(k)
    model_dict.update(new_state_dict)
    model.load_state_dict(model_dict)
    if not matched:
        warnings.warn(
            f'Cannot load "{weight_path}": no layer matched (check the key names manually)',
            stacklevel=2,
        )
    else:
        print(f'Successfully loaded pretrained weights from "{weight_path}"')
        print(f"Matched layers: {len(matched)}")
        if discarded:
            print(f"Layers discarded due to unmatched keys or size: {discarded}")


def init_network_weights(model, init_type="normal", gain=0.02):
    def _init_func(m):
        classname = m.__class__.__name__
        is_conv_or_linear = "Conv" in classname or "Linear" in classname
        if hasattr(m, "weight") and is_conv_or_linear:
            if init_type == "normal":
                nn.init.normal_(m.weight.data, 0.0, gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(m.weight.data, gain=gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(m.weight.data, a=0, mode="fan_in")
            elif init_type == "orthogonal":
                nn.init.orthogonal_(m.weight.data, gain=gain)
            else:
                raise NotImplementedError(f"initialization method {init_type} is not implemented")
            if getattr(m, "bias", None) is not None:
                nn.init.constant_(m.bias.data, 0.0)
        elif classname.find("BatchNorm") != -1 or classname.find("InstanceNorm") != -1:
            if getattr(m, "weight", None) is not None:
                nn.init.constant_(m.weight.data, 1.0)
            if getattr(m, "bias", None) is not None:
                nn.init.constant_(m.bias.data, 0.0)

    model.apply(_init_func)

