"""Load CLIP for every trainer: one place that knows where weights come from and in what precision.

Weights come from a local file (``MODEL.BACKBONE.NAME`` is a path) or, for the OpenAI model
names CoOp configs use (``ViT-B/16``, ``RN50``, ...), from a cache directory: ``$CLIP_CACHE_DIR``
or ``~/.cache/clip``, where OpenAI's ``clip`` package puts them, so files CoOp users already have
load as they are. A cached or downloaded file is checked against the SHA-256 published in
OpenAI's URL. The model is built, unmodified, by ``open_clip`` from OpenAI's state-dict layout.
"""

import hashlib
import os
import shutil
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
from contextlib import nullcontext

import torch

from trainers.torchscript_weights import is_torchscript_archive, read_torchscript_state_dict

_OPENAI_URL = "https://openaipublic.azureedge.net/clip/models/{sha}/{file}"
# name -> (file name in the cache, SHA-256 of that file, hub mirror used as an alternative source)
OPENAI_MODELS = {
    "RN50": ("RN50.pt", "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762",
             "timm/resnet50_clip.openai"),
    "RN101": ("RN101.pt", "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599",
              "timm/resnet101_clip.openai"),
    "RN50x4": ("RN50x4.pt", "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd",
               "timm/resnet50x4_clip.openai"),
    "RN50x16": ("RN50x16.pt", "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa",
                "timm/resnet50x16_clip.openai"),
    "RN50x64": ("RN50x64.pt", "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c",
                "timm/resnet50x64_clip.openai"),
    "ViT-B/32": ("ViT-B-32.pt", "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
                 "timm/vit_base_patch32_clip_224.openai"),
    "ViT-B/16": ("ViT-B-16.pt", "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f",
                 "timm/vit_base_patch16_clip_224.openai"),
    "ViT-L/14": ("ViT-L-14.pt", "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
                 "timm/vit_large_patch14_clip_224.openai"),
    "ViT-L/14@336px": ("ViT-L-14-336px.pt",
                       "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
                       "timm/vit_large_patch14_clip_336.openai"),
}
PRECISIONS = ("fp16", "fp32", "amp", "bf16")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".tar", ".safetensors")


class CLIPLoadError(RuntimeError):
    """A CLIP checkpoint could not be found, fetched or read; the message says what to do."""


def clip_cache_dir():
    return os.path.expanduser(os.environ.get("CLIP_CACHE_DIR", "~/.cache/clip"))


def canonical_model_name(name):
    """Accept both spellings users have: OpenAI's ``ViT-B/16`` and open_clip's ``ViT-B-16``."""
    for known in OPENAI_MODELS:
        if name in (known, known.replace("/", "-")):
            return known
    return None


def is_checkpoint_path(name):
    return name.endswith(CHECKPOINT_SUFFIXES) or os.path.exists(os.path.expanduser(name))


def sha256_of(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_checkpoint(name):
    """Return a local file for ``name`` (a path or an OpenAI model name), fetching if needed."""
    if is_checkpoint_path(name) and canonical_model_name(name) is None:
        path = os.path.expanduser(name)
        if not os.path.isfile(path):
            raise CLIPLoadError(f"CLIP checkpoint not found: {path} (MODEL.BACKBONE.NAME)")
        return path
    model = canonical_model_name(name)
    if model is None:
        raise CLIPLoadError(
            f"Unknown CLIP backbone {name!r} and no such file (MODEL.BACKBONE.NAME): use one of "
            f"{sorted(OPENAI_MODELS)} or a path to a checkpoint file"
        )
    file_name, sha, _hub = OPENAI_MODELS[model]
    target = os.path.join(clip_cache_dir(), file_name)
    if os.path.isfile(target):
        actual = sha256_of(target)
        if actual != sha:
            raise CLIPLoadError(
                f"{target} does not match the SHA-256 of OpenAI's {model} ({actual[:12]}... != "
                f"{sha[:12]}...): the file is corrupt or another model; delete it to re-download"
            )
        return target
    return _download_openai(model, target)


# Set to 1 (or true/yes/on) to say "this machine is offline"; the hub's own variables count too.
OFFLINE_VARIABLES = ("SAR_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def offline_variable():
    """The offline variable that is set, if any: then nothing is downloaded at all."""
    for name in OFFLINE_VARIABLES:
        if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on"):
            return name
    return None


def _not_found(model, target, why):
    file_name = OPENAI_MODELS[model][0]
    return CLIPLoadError(
        f"{model} weights are not in {target} and could not be downloaded ({why}). Put "
        f"OpenAI's {file_name} there (or set CLIP_CACHE_DIR), or pass a local checkpoint path "
        "as MODEL.BACKBONE.NAME"
    )


def _is_offline(error, timeout=3.0):
    """True when OpenAI's URL could not be reached at all (DNS, refused, timed out: not a
    server's answer such as HTTP 404) and the hub mirror's host cannot be reached either: then
    the hub download, with its retries (about a minute), is not even tried."""
    if isinstance(error, urllib.error.HTTPError) or not isinstance(error, OSError):
        return False
    host = urllib.parse.urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((host.hostname, host.port or 443), timeout=timeout).close()
    except OSError:
        return True
    return False


def _download_openai(model, target):
    file_name, sha, _hub = OPENAI_MODELS[model]
    url = _OPENAI_URL.format(sha=sha, file=file_name)
    variable = offline_variable()
    if variable:
        raise _not_found(model, target, f"{variable} is set: offline")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=file_name + ".", suffix=".part", dir=os.path.dirname(target))
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
            shutil.copyfileobj(response, out)
        if sha256_of(tmp) != sha:
            raise CLIPLoadError(f"downloaded {url} but its SHA-256 does not match; not saved")
        os.replace(tmp, target)
        return target
    except CLIPLoadError:
        raise
    except Exception as error:  # 404 and the like: fall back to the hub mirror, then explain
        why = f"{type(error).__name__}: {error}"
        if _is_offline(error):
            raise _not_found(model, target, f"offline: {why}") from None
        hub_file = _download_from_hub(model)
        if hub_file is not None:
            return hub_file
        raise _not_found(model, target, why) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _download_from_hub(model):
    """Alternative source when OpenAI's URL fails: the hub copy open_clip serves (hub-verified)."""
    try:
        from open_clip.pretrained import download_pretrained_from_hf

        return download_pretrained_from_hf(OPENAI_MODELS[model][2])
    except Exception:
        return None


def read_state_dict(path):
    """Read OpenAI's JIT archive, a ``torch.save`` state dict or safetensors; run nothing.

    A TorchScript archive is taken apart without ``torch.jit.load``, which would run the
    archive's code (see trainers/torchscript_weights.py).
    """
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            state = load_file(path)
        elif is_torchscript_archive(path):
            state = _read_archive(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CLIPLoadError(
            f"cannot read CLIP checkpoint {path}: {type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or "text_projection" not in state:
        raise CLIPLoadError(f"{path} is not a CLIP checkpoint in OpenAI's key layout")
    # traced archives also carry derived buffers (the causal mask) that the builder recreates
    return {
        key.removeprefix("module."): value
        for key, value in state.items()
        if not key.endswith("attn_mask")
    }


def _read_archive(path):
    """Only a file with the SHA-256 of one of OpenAI's releases may still go through
    ``torch.jit.load``, should the reader fail on it: its code is OpenAI's, checked."""
    try:
        return read_torchscript_state_dict(path)
    except Exception:
        if sha256_of(path) not in {sha for _file, sha, _hub in OPENAI_MODELS.values()}:
            raise
    return torch.jit.load(path, map_location="cpu").state_dict()


RANDOM_PREFIX = "random:"


def load_clip(name, quick_gelu=None):
    """Build CLIP (open_clip's class) in fp32 on the CPU, frozen, in eval mode.

    ``random:<architecture>`` (e.g. ``random:ViT-B/16``) gives the real architecture with random
    weights, for benchmarks; it goes through the same builder as a real checkpoint. Trainers
    call ``open_clip_backbones.load_backbone``, which also takes open_clip's ``model:tag``.
    ``quick_gelu``: ``MODEL.BACKBONE.QUICK_GELU`` (None: not set).
    """
    from open_clip.model import build_model_from_openai_state_dict

    quick = openai_layout_activation(name, quick_gelu)  # a contradiction fails before any fetch
    if name.startswith(RANDOM_PREFIX):
        from trainers.random_clip import architecture_state_dict

        path, state = name, architecture_state_dict(name[len(RANDOM_PREFIX):])
    else:
        path = resolve_checkpoint(name)
        state = read_state_dict(path)
    try:
        model = build_model_from_openai_state_dict(state, quick_gelu=quick)
    except Exception as error:
        raise CLIPLoadError(f"{path} does not match CLIP's architecture: {error}") from None
    return freeze(model)


def freeze(model):
    model = model.float().eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def openai_layout_activation(name, quick_gelu):
    """The activation of a model rebuilt from OpenAI's layout, said in the log.

    The weights cannot tell GELU from QuickGELU, so a bare path takes ``MODEL.BACKBONE.QUICK_GELU``
    or, when it is not set, today's QuickGELU with a line saying it was assumed.
    """
    if name.startswith(RANDOM_PREFIX):
        return True if quick_gelu is None else bool(quick_gelu)
    model = canonical_model_name(name)
    if model is not None:
        if quick_gelu is not None and not quick_gelu:
            raise CLIPLoadError(f"MODEL.BACKBONE.QUICK_GELU {quick_gelu} contradicts OpenAI's "
                                f"{model}, trained with QuickGELU: drop the key")
        print(f"Activation: QuickGELU (OpenAI's {model})")
        return True
    if quick_gelu is None:
        print(f"Activation: QuickGELU assumed for {name} (OpenAI's layout; nothing says how it "
              "was trained): set MODEL.BACKBONE.QUICK_GELU False for a GELU checkpoint, or name "
              "its open_clip model as MODEL.BACKBONE.NAME <model>:<path>")
        return True
    print(f"Activation: {'QuickGELU' if quick_gelu else 'GELU'} (from MODEL.BACKBONE.QUICK_GELU)")
    return bool(quick_gelu)


def clip_image_size(clip_model):
    size = clip_model.visual.image_size
    return tuple(size) if isinstance(size, (tuple, list)) else (size, size)


def resolve_precision(prec, device):
    """Half precisions need CUDA; on the CPU they fall back to fp32 with a warning."""
    if prec not in PRECISIONS:
        raise ValueError(f"PREC must be one of {PRECISIONS}, got {prec!r}")
    if torch.device(device).type != "cuda" and prec != "fp32":
        warnings.warn(f"PREC {prec} needs CUDA; running in fp32 on {device}", stacklevel=2)
        return "fp32"
    return prec


def weight_dtype(prec):
    """Frozen CLIP weights are stored in half for fp16/bf16, fp32 for fp32/amp (autocast)."""
    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(prec, torch.float32)


def apply_precision(clip_model, prec):
    """Cast the frozen weights; LayerNorms stay fp32, as in OpenAI's fp16 CLIP.

    open_clip builds OpenAI models with ``LayerNormFp32``, which normalizes an fp32 copy of
    its input: half-precision LayerNorm weights would make that a mixed-dtype error.
    """
    clip_model.to(weight_dtype(prec))
    for module in clip_model.modules():
        if isinstance(module, torch.nn.LayerNorm):
            module.float()
    return clip_model


def autocast_for(prec, device):
    if prec == "amp":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.float16)
    return nullcontext()
