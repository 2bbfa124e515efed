"""Widen a CLIP state dict to other tower widths without changing what it computes.

Upstream MaPLe and PromptSRC hard-code ViT-B/16's widths (text 512, vision 768) in their prompt
learners, so they cannot run on the 64-wide toy CLIP. Here every width-``w`` activation becomes
``c`` side-by-side copies of itself (width ``c·w``):

* LayerNorm over ``c`` copies has the mean and variance of one copy, so it commutes with tiling;
* a linear map becomes the ``c × c`` block matrix of its weight over ``c``: copies in, copies out;
* OpenAI's rule gives ``width // 64`` heads of 64 dimensions, so each new head sees exactly one
  copy of one old head and attends as it did.

The widened model gives the original features (up to float summation order), so it keeps the
toy CLIP's pretraining; only what a method adds at the wider width (new prompts) breaks the tie.
"""

import re

import torch

HEAD_DIM = 64  # OpenAI's build_model: heads = width // 64
BLOCK = re.compile(r"^(visual\.)?transformer\.resblocks\.\d+\.")


def tile_last(t, c):
    """Copies side by side along the feature (last) dimension."""
    return t.repeat(*([1] * (t.dim() - 1)), c)


def tile_map(weight, c_out, c_in):
    """A linear weight [out, in] as the block matrix mapping ``c_in`` copies to ``c_out``."""
    return weight.repeat(c_out, c_in) / c_in


def tile_qkv(weight, c):
    """in_proj [3w, w] (or its bias [3w]): q, k and v each tiled on their own."""
    parts = weight.chunk(3, dim=0)
    if weight.dim() == 1:
        return torch.cat([tile_last(p, c) for p in parts])
    return torch.cat([tile_map(p, c, c) for p in parts])


def widen_tensor(key, t, c):
    """One tensor of a tower whose width grows ``c`` times."""
    name = BLOCK.sub("", key)
    if name == "attn.in_proj_weight" or name == "attn.in_proj_bias":
        return tile_qkv(t, c)
    if name in ("attn.out_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"):
        return tile_map(t, c, c)
    if name in ("text_projection", "visual.proj"):
        return t.repeat(c, 1) / c  # [w, embed]: copies in, one embedding out
    if name == "visual.conv1.weight":
        return t.repeat(c, 1, 1, 1)  # one image in, copies of every channel out
    return tile_last(t, c)  # embeddings, LayerNorms, biases: [..., w]


def widen_state_dict(state, text_width=512, vision_width=768):
    """A copy of an OpenAI-layout ViT CLIP state dict at the given tower widths."""
    text_old = state["ln_final.weight"].shape[0]
    vision_old = state["visual.ln_post.weight"].shape[0]
    factors = {}
    for tower, old, new in (("text", text_old, text_width), ("vision", vision_old, vision_width)):
        if new % old or new % HEAD_DIM or old % HEAD_DIM:
            raise ValueError(f"cannot widen the {tower} tower from {old} to {new}: the new width "
                             f"must be a multiple of the old one and both of {HEAD_DIM}")
        factors[tower] = new // old
    fixed = {"logit_scale", "attn_mask"}
    widened = {}
    for key, t in state.items():
        if key.split(".")[-1] in fixed or t.dim() == 0:
            widened[key] = t.clone()
            continue
        c = factors["vision" if key.startswith("visual.") else "text"]
        widened[key] = widen_tensor(key, t, c).contiguous() if c > 1 else t.clone()
    return widened
