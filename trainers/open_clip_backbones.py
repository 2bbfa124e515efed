"""open_clip CLIPs as backbones: ``MODEL.BACKBONE.NAME <open_clip model>:<pretrained tag>``.

The spelling is the one ``open_clip.list_pretrained(as_str=True)`` prints (``ViT-B-16:laion2b_
s34b_b88k``), so a name copied from open_clip's table works as it is, and a YAML still names the
backbone in one line. After the colon a file may stand instead of a tag
(``ViT-B-16:/data/open_clip_pytorch_model.bin``): the model name then says what the file is.
``local-dir:<folder>`` is open_clip's own spelling for a folder saved as open_clip publishes a
model (``open_clip_config.json`` beside the weights): its config says everything.

The model is built by open_clip's factory from its model config. The activation follows the
weights: a tag's pretrained config decides (open_clip lists some QuickGELU-trained weights, e.g.
``ViT-B-16`` ``metaclip_400m``, under the plain GELU name, and its factory only warns); for a
file, the model name does, unless ``MODEL.BACKBONE.QUICK_GELU`` says otherwise. Only models with
CLIP's own text transformer are accepted: prompt learning edits its token embeddings.
"""

import json
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass

from open_clip.factory import get_model_config
from open_clip.pretrained import get_pretrained_cfg, list_pretrained, list_pretrained_tags_by_model
from open_clip.transform import PreprocessCfg

from trainers.backbone import CLIPLoadError, freeze, load_clip, read_state_dict

SEPARATOR = ":"
LOCAL_DIR = "local-dir:"
CONFIG_FILE = "open_clip_config.json"
# the weight files open_clip looks for in a folder, in its order of preference
FOLDER_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors",
                  "open_clip_pytorch_model.bin", "open_clip_pytorch_model.pth",
                  "model.safetensors", "pytorch_model.bin", "pytorch_model.pth", "model.pth")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".tar", ".safetensors")
WORKING_FAMILIES = ("OpenAI names (ViT-B/16, RN50, ...)",
                    "open_clip ViT-*, RN*, convnext_* CLIPs with CLIP's text tower")
LIST_COMMAND = "python tools/open_clip_models.py list"


@dataclass(frozen=True)
class OpenClipName:
    """A parsed ``model:tag`` (``tag`` set), ``model:file`` (``file`` set) or ``local-dir:``
    folder (``folder`` set; ``model`` is then open_clip's ``local-dir:<folder>`` name)."""

    model: str
    tag: str = ""
    file: str = ""
    folder: str = ""

    def __str__(self):
        return self.model if self.folder else f"{self.model}{SEPARATOR}{self.tag or self.file}"


def load_backbone(name, quick_gelu=None):
    """What every trainer loads: an open_clip ``model:tag`` or ``model:file`` here, any other
    name (OpenAI's, a path, ``random:``) by ``backbone.load_clip`` exactly as before."""
    parsed = parse_name(name)
    if parsed is None:
        return load_clip(name, quick_gelu)
    return freeze(build_open_clip(parsed, quick_gelu))


def parse_name(name):
    """The open_clip model a backbone name asks for, or None (an OpenAI name, a path, random:).

    A name is open_clip's when it has a colon with no path separator before it: ``/data/a:b.pt``
    stays a path and ``random:tiny`` stays random.
    """
    if os.path.exists(os.path.expanduser(name)):
        return None  # an existing file with a colon in its name stays a path
    if name.startswith(LOCAL_DIR):
        folder = os.path.expanduser(name[len(LOCAL_DIR):])
        return OpenClipName(LOCAL_DIR + folder, folder=folder)
    model, sep, rest = name.partition(SEPARATOR)
    if not sep or not model or not rest or "/" in model or os.sep in model or model == "random":
        return None
    if rest.endswith(CHECKPOINT_SUFFIXES) or "/" in rest or os.path.exists(rest):
        return OpenClipName(model, file=os.path.expanduser(rest))
    return OpenClipName(model, tag=rest)


def refusal(model, model_cfg):
    """Why ``model`` cannot be prompt-tuned here, or None when its text tower is CLIP's own."""
    text = model_cfg.get("text_cfg", {})
    if "multimodal_cfg" in model_cfg:
        return ("CoCa: its text side is a captioning decoder with a class-token embedding and "
                "attentional pooling")
    if text.get("hf_model_name"):
        return f"its text tower is a Hugging Face model ({text['hf_model_name']})"
    if "init_logit_bias" in model_cfg:
        return ("SigLIP: a sigmoid head with a bias and a bidirectional text tower pooled at its "
                "last token")
    if model_cfg.get("custom_text"):
        return ("its text tower is open_clip's separate CustomTextCLIP tower (EVA, PE-Core, "
                "MobileCLIP families), which this project does not drive")
    different = _text_differences(text)
    if different:
        return f"its text tower is not CLIP's ({', '.join(different)})"
    return None


def takes_deep_prompts(model_cfg):
    """Whether MaPLe and PromptSRC can prompt the image tower: open_clip's own ViT with
    class-token pooling (not a ResNet, not a timm tower)."""
    vision = model_cfg.get("vision_cfg", {})
    return (not vision.get("timm_model_name") and isinstance(vision.get("layers", 12), int)
            and not vision.get("attentional_pool") and vision.get("pool_type", "tok") == "tok"
            and not vision.get("final_ln_after_pool"))


def _text_differences(text):
    """The ways a CLIP-class text config departs from CLIP's transformer and tokenizer."""
    checks = [
        (text.get("hf_tokenizer_name"), f"tokenizer {text.get('hf_tokenizer_name')}"),
        (text.get("context_length", 77) != 77, f"context {text.get('context_length')}"),
        (text.get("vocab_size", 49408) != 49408, f"vocabulary {text.get('vocab_size')}"),
        (text.get("no_causal_mask"), "no causal mask"),
        (text.get("pool_type", "argmax") != "argmax", f"pooling {text.get('pool_type')}"),
        (text.get("embed_cls"), "a class-token embedding"),
        (text.get("final_ln_after_pool"), "LayerNorm after pooling"),
        (text.get("proj_type", "linear") != "linear" or text.get("proj_bias"),
         "another text projection"),
    ]
    return [what for differs, what in checks if differs]


def refusal_line(name, why):
    return (f"backbone {name} is refused: {why}; prompt learning needs CLIP's own text "
            f"transformer (token and positional embedding, causal mask, EOT pooling). Works: "
            f"{'; '.join(WORKING_FAMILIES)} ({LIST_COMMAND})")


def model_config(parsed):
    """open_clip's model config for ``parsed``; an unknown model or tag is one line."""
    if parsed.folder:
        return folder_config(parsed.folder)["model_cfg"]
    model_cfg = get_model_config(parsed.model)
    if model_cfg is None:
        raise CLIPLoadError(f"unknown open_clip model {parsed.model!r} (MODEL.BACKBONE.NAME "
                            f"{parsed}); see {LIST_COMMAND}")
    if parsed.tag and not get_pretrained_cfg(parsed.model, parsed.tag):
        known = ", ".join(list_pretrained_tags_by_model(parsed.model)) or "none"
        raise CLIPLoadError(f"open_clip has no pretrained tag {parsed.tag!r} for {parsed.model} "
                            f"(MODEL.BACKBONE.NAME {parsed}); its tags: {known}")
    return model_cfg


def folder_config(folder):
    """A saved folder's ``open_clip_config.json`` (model_cfg and preprocess_cfg)."""
    path = os.path.join(folder, CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as error:
        raise CLIPLoadError(f"cannot read {path} (MODEL.BACKBONE.NAME {LOCAL_DIR}{folder}): "
                            f"{type(error).__name__}: {error}") from None
    if not isinstance(config, dict) or not isinstance(config.get("model_cfg"), dict):
        raise CLIPLoadError(f"{path} holds no model_cfg: not a folder saved by open_clip")
    return config


def weights_path(parsed):
    """The weights file of ``parsed``: its file, its folder's, or its tag's (fetched if need be)."""
    from trainers.open_clip_weights import weights_file

    if parsed.file:
        return parsed.file
    if parsed.folder:
        for name in FOLDER_WEIGHTS:
            if os.path.isfile(os.path.join(parsed.folder, name)):
                return os.path.join(parsed.folder, name)
        raise CLIPLoadError(f"{parsed.folder} holds no weights ({', '.join(FOLDER_WEIGHTS[:3])}, "
                            "...) beside its open_clip_config.json")
    return weights_file(parsed.model, parsed.tag)


def activation(parsed, model_cfg, quick_gelu_key):
    """(quick_gelu, where that came from): the tag decides; for a file, the key or the name."""
    if parsed.tag:
        quick = bool(get_pretrained_cfg(parsed.model, parsed.tag).get("quick_gelu", False))
        if quick_gelu_key is not None and bool(quick_gelu_key) != quick:
            raise CLIPLoadError(
                f"MODEL.BACKBONE.QUICK_GELU {quick_gelu_key} contradicts {parsed}, whose weights "
                f"were trained with {'QuickGELU' if quick else 'GELU'}: drop the key")
        return quick, f"open_clip's pretrained config of {parsed}"
    if quick_gelu_key is not None:
        return bool(quick_gelu_key), "MODEL.BACKBONE.QUICK_GELU"
    if parsed.folder:
        return bool(model_cfg.get("quick_gelu", False)), os.path.join(parsed.folder, CONFIG_FILE)
    return bool(model_cfg.get("quick_gelu", False)), f"open_clip's model config {parsed.model}"


def activation_name(quick_gelu):
    return "QuickGELU" if quick_gelu else "GELU"


@dataclass(frozen=True)
class BackboneInput:
    """The image size and normalization a backbone was trained with, and where they come from."""

    size: tuple
    mean: tuple
    std: tuple
    source: str


def backbone_input(name):
    """The input an open_clip backbone name asks for, read from configs only (no weights);
    None for other names, whose input stays as configured today."""
    parsed = parse_name(name)
    if parsed is None:
        return None
    if parsed.folder:
        if not os.path.isfile(os.path.join(parsed.folder, CONFIG_FILE)):
            return None  # loading the model says what is missing
        config = folder_config(parsed.folder)
        model_cfg, stats = config["model_cfg"], config.get("preprocess_cfg", {})
        source = os.path.join(parsed.folder, CONFIG_FILE)
    else:
        model_cfg = get_model_config(parsed.model)
        if model_cfg is None:
            return None
        stats = get_pretrained_cfg(parsed.model, parsed.tag) if parsed.tag else {}
        source = (f"open_clip's pretrained config of {parsed}" if stats else
                  f"open_clip's defaults for {parsed.model} (no tag names its mean/std)")
    size = model_cfg["vision_cfg"].get("image_size", 224)
    size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
    default = PreprocessCfg()
    mean = tuple(float(v) for v in stats.get("mean", default.mean))
    std = tuple(float(v) for v in stats.get("std", default.std))
    return BackboneInput(size, mean, std, source)


@contextmanager
def quiet_factory():
    """open_clip logs a warning that the model starts random: true, and irrelevant here, since
    the weights are loaded right after, from a file this module checked."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def build_open_clip(parsed, quick_gelu_key=None):
    """open_clip's CLIP for ``parsed`` with its weights, built by open_clip's factory."""
    import open_clip
    import torch

    model_cfg = model_config(parsed)
    why = refusal(parsed.model, model_cfg)
    if why:
        raise CLIPLoadError(refusal_line(str(parsed), why))
    quick, source = activation(parsed, model_cfg, quick_gelu_key)
    if quick != bool(model_cfg.get("quick_gelu", False)):
        print(f"Note: open_clip's {parsed.model} config builds "
              f"{activation_name(not quick)}, but the weights need {activation_name(quick)}")
    print(f"Activation: {activation_name(quick)} (from {source})")
    path = weights_path(parsed)
    state = read_state_dict(path)
    with quiet_factory():
        model = open_clip.create_model(parsed.model, load_weights=False, quick_gelu=quick)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        detail = " ".join(str(error).split())[:300]
        raise CLIPLoadError(f"{path} does not match open_clip's {parsed.model}: {detail}") from None
    if not isinstance(model, open_clip.CLIP):
        raise CLIPLoadError(refusal_line(str(parsed), f"open_clip built {type(model).__name__}"))
    return model.to(torch.float32)


def prompt_tunable_pretrained():
    """Every (model, tag) open_clip lists whose model this project can prompt-tune."""
    for model, tag in list_pretrained():
        model_cfg = get_model_config(model)
        if model_cfg is not None and refusal(model, model_cfg) is None:
            yield model, tag


def refused_pretrained():
    """(model, tag, why) for the listed models refused here."""
    for model, tag in list_pretrained():
        model_cfg = get_model_config(model)
        if model_cfg is None:
            continue
        why = refusal(model, model_cfg)
        if why:
            yield model, tag, why
