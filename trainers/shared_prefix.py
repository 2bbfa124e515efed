"""Shared-prefix text encoding (``TRAINER.SHARED_PREFIX``): the prompt positions every class
shares run once, each class runs only its own suffix, and suffixes are grouped by length.

Why: CLIP's text transformer is causal. With the class name at the end of the prompt, SOS, the
context and any words before the name have the same hidden states for every class, at every
layer, yet the per-class path computes them once per class per step. Here that prefix runs once
(once per image for CoCoOp, whose context depends on the image); each class's suffix (name, full
stop, EOS) attends to the prefix's keys and values of the same layer and causally to its own
earlier positions. Suffixes are grouped into buckets by length, so the longest class name no
longer sets every class's length. Deep prompts replace context positions, so they only ever
touch the prefix.

Exact: every position sees the same keys and values through the same weights as on the
per-class path; only positions computed C times are computed once. The blocks are open_clip's,
unmodified: ``ln_1``, the attention's ``in_proj``/``out_proj``, ``ls_1``, ``ln_2``, ``mlp`` and
``ls_2`` are called as they are. Only the attention product is written out, because
``nn.MultiheadAttention`` would need the prefix's keys copied into every class's row.
"""

import math
from typing import NamedTuple

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

# Bucketing cost model, per device type: one more length bucket is worth this many padded
# positions (rows x length). A bucket costs only its attention's kernel launches (the linear
# layers run over all buckets at once), a padded position a whole token's work. CPU: measured,
# a bucket per distinct length is fastest (docs/benchmarks.md, "Shared-prefix text encoding").
# CUDA: not measured yet; estimated from ~20 launches x 12 layers x ~5 us per bucket against
# ~0.75 us of ViT-B/16 text work per position, so a bucket must save ~1000 padded positions;
# tools/gpu_report.py times 0, 64, 1024 and one bucket to settle it.
BUCKET_OVERHEAD_POSITIONS = {"cpu": 0.0, "cuda": 1024.0}


class SplitPrompts(NamedTuple):
    """A prompt set laid out for the shared-prefix path (``split_prompts`` builds it).

    The class suffixes are packed: bucket after bucket, row after row, each row padded to its
    bucket's length. Linear layers run over the packed tokens at once; only the attention
    looks at the buckets (``shapes``).
    """

    prefix: torch.Tensor  # (G, P, D): SOS, context, shared words; one row per group (image)
    suffix: torch.Tensor  # (T, D): the classes' embeddings after the prefix, packed
    shapes: tuple  # per bucket (rows, length); T = sum of rows x length
    eos: torch.Tensor  # (N,): each class's EOS in the packed sequence [prefix ; suffix]


def replace_context(x, ctx, batch_first=True, start=1):
    """Positions start..start+n_ctx-1 of ``x`` replaced by ``ctx`` (n_ctx, D), for every row: a
    deep prompt entering a layer (``start`` 1: right after SOS; after ATPrompt's blocks)."""
    n_ctx = ctx.shape[0]
    ctx = ctx.to(x.dtype)
    if batch_first:
        ctx = ctx.unsqueeze(0).expand(x.shape[0], -1, -1)
        return torch.cat([x[:, :start], ctx, x[:, start + n_ctx :]], dim=1)
    ctx = ctx.unsqueeze(1).expand(-1, x.shape[1], -1)
    return torch.cat([x[:start], ctx, x[start + n_ctx :]], dim=0)


def unsupported_reason(transformer):
    """Why the blocks of ``transformer`` cannot take the shared-prefix path, or None.

    The path calls open_clip's ``ResidualAttentionBlock`` parts and reads the attention's packed
    projection, so anything else (another block class, separate q/k/v weights, attention
    dropout, extra key/value biases) keeps the per-class path."""
    for block in transformer.resblocks:
        attn = getattr(block, "attn", None)
        if not all(hasattr(block, name) for name in ("ln_1", "ln_2", "mlp")):
            return f"{type(block).__name__} is not open_clip's residual attention block"
        if not isinstance(attn, nn.MultiheadAttention) or attn.in_proj_weight is None:
            return "the text attention is not a packed nn.MultiheadAttention"
        if attn.dropout or attn.bias_k is not None or attn.add_zero_attn:
            return "the text attention has dropout or extra key/value biases"
    return None


def plan_buckets(lengths, overhead=0.0, multiple=1, limit=None):
    """Groups of row indices by length, ``[(padded length, indices)]`` in increasing length.

    The grouping minimizes padded positions (rows x length) plus ``overhead`` per group, by
    dynamic programming over the sorted distinct lengths (a handful), so it is exact, not a
    heuristic. ``multiple`` rounds lengths up (compiled towers want few shapes), ``limit``
    caps them.
    """
    by_length = {}
    for index, length in enumerate(lengths):
        rounded = -(-length // multiple) * multiple
        by_length.setdefault(min(rounded, limit or rounded), []).append(index)
    sizes = sorted(by_length)
    if overhead == math.inf:
        return [(sizes[-1], [i for size in sizes for i in by_length[size]])]
    counts = [len(by_length[size]) for size in sizes]
    best, cut = [0.0] + [math.inf] * len(sizes), [0] * (len(sizes) + 1)
    for end in range(1, len(sizes) + 1):
        rows = 0
        for start in range(end - 1, -1, -1):
            rows += counts[start]
            cost = best[start] + rows * sizes[end - 1] + overhead
            if cost < best[end]:
                best[end], cut[end] = cost, start
    buckets, end = [], len(sizes)
    while end:
        start = cut[end]
        indices = [i for size in sizes[start:end] for i in by_length[size]]
        buckets.append((sizes[end - 1], indices))
        end = start
    return buckets[::-1]


def split_prompts(tokens, prefix=None, overhead=None, multiple=1):
    """Lay out ``tokens`` (ClassTokens) for the shared-prefix path, behind ``prefix`` (G, P, D)
    from the prompt learner (``prompts.shared_prefix``; CoCoOp puts in each image chunk's with
    ``_replace``). Planned on the host from ``tokens.lengths``: no device sync. ``overhead``:
    the bucketing cost, None for the device's (``BUCKET_OVERHEAD_POSITIONS``).

    ``multiple`` > 1 (a compiled tower) makes one bucket of a rounded length: compiled code is
    reused only for shapes it has seen, and the classes' lengths change with SAR's draw.
    """
    shared = tokens.shared_len
    suffix_lengths = [length - shared for length in tokens.lengths]
    limit = tokens.tokenized.shape[1] - shared
    device = tokens.suffix.device
    if overhead is None:
        overhead = BUCKET_OVERHEAD_POSITIONS.get(device.type, BUCKET_OVERHEAD_POSITIONS["cuda"])
    if multiple > 1:
        overhead = math.inf
    buckets = plan_buckets(suffix_lengths, overhead, multiple, limit)
    order = [i for _, indices in buckets for i in indices]
    eos, first = [0] * len(order), shared
    for length, indices in buckets:
        for row, index in enumerate(indices):
            eos[index] = first + row * length + suffix_lengths[index] - 1
        first += len(indices) * length
    order_and_eos = torch.tensor([order, eos], device=device)
    start = shared - tokens.suffix_start
    longest = max(length for length, _ in buckets)
    rows = tokens.suffix[:, start : start + longest].index_select(0, order_and_eos[0])
    packed, first = [], 0
    for length, indices in buckets:
        packed.append(rows[first : first + len(indices), :length].flatten(0, 1))
        first += len(indices)
    shapes = tuple((len(indices), length) for length, indices in buckets)
    return SplitPrompts(prefix, torch.cat(packed), shapes, order_and_eos[1])


def attend(qkv, mask, past=None):
    """Attention of R rows of S positions, ``qkv`` (G, R, S, 3, H, d_head): causal within each
    row (``mask``, S x S) and, with ``past`` = (keys, values) (G, H, P, d_head), every row of a
    group also sees the P positions before it that the group shares. The shared keys enter one
    matmul per group, never a copy per row.

    Returns the output (G, R * S, H * d_head) and this segment's keys and values.
    """
    groups, rows, length = qkv.shape[:3]
    # one head-major copy, kept for backward; each matmul below then reads views of it
    q, k, v = qkv.permute(3, 0, 4, 1, 2, 5).contiguous().unbind(0)  # each (G, H, R, S, d_head)
    heads, width, scale = q.shape[1], q.shape[1] * q.shape[-1], q.shape[-1] ** -0.5
    scores = q @ k.transpose(-1, -2)  # (G, H, R, S, S)
    shared = 0
    if past is not None:
        past_k, past_v = past
        shared = past_k.shape[2]
        flat_q = q.reshape(groups, heads, rows * length, -1)
        to_past = (flat_q @ past_k.transpose(-1, -2)).view(groups, heads, rows, length, shared)
        scores = torch.cat([to_past, scores], dim=-1)
        mask = nn.functional.pad(mask, (shared, 0))  # every row sees the whole past
    scores = scores * scale + mask.to(scores.dtype)
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(v.dtype)
    out = probs[..., shared:] @ v
    if past is not None:
        from_past = probs[..., :shared].reshape(groups, heads, rows * length, shared) @ past_v
        out = out + from_past.view(out.shape)
    return out.permute(0, 2, 3, 1, 4).reshape(groups, rows * length, width), k, v


def block_step(block, x, n_prefix, shapes, causal):
    """One open_clip residual block over the packed sequence ``x`` (G, P + T, D): the prefix
    attends causally to itself, each bucket's rows to the prefix and causally to themselves.
    Everything but the attention product is the block's own modules, run over all tokens."""
    groups, _, width = x.shape
    attn = block.attn
    qkv = nn.functional.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias)
    qkv = qkv.view(groups, x.shape[1], 3, attn.num_heads, -1)
    out, k, v = attend(qkv[:, None, :n_prefix], causal[:n_prefix, :n_prefix])
    outs, past, first = [out], (k[:, :, 0], v[:, :, 0]), n_prefix
    for rows, length in shapes:
        segment = qkv[:, first : first + rows * length].unflatten(1, (rows, length))
        outs.append(attend(segment, causal[:length, :length], past)[0])
        first += rows * length
    x = x + _layer_scale(block, "ls_1", attn.out_proj(torch.cat(outs, dim=1)))
    return x + _layer_scale(block, "ls_2", block.mlp(block.ln_2(x)))


def _layer_scale(block, name, x):
    scale = getattr(block, name, None)
    return x if scale is None else scale(x)


def encode_split(encoder, split, deep_prompts=None, context_start=1):
    """EOS states after ``ln_final``, (G, N, D), of ``split`` through ``encoder``'s blocks (a
    trainers.text_encoder.TextEncoder), in the classes' own order."""
    deep_prompts = list(deep_prompts or [])
    recompute = encoder.recompute_blocks and torch.is_grad_enabled()
    position, causal, dtype = encoder.positional_embedding, encoder.attn_mask, encoder.dtype
    n_prefix, groups = split.prefix.shape[1], split.prefix.shape[0]
    suffix, first = [], 0
    for rows, length in split.shapes:
        rows_embedded = split.suffix[first : first + rows * length].unflatten(0, (rows, length))
        rows_embedded = rows_embedded.to(dtype) + position[n_prefix : n_prefix + length]
        suffix.append(rows_embedded.flatten(0, 1))
        first += rows * length
    suffix = torch.cat(suffix).unsqueeze(0).expand(groups, -1, -1)
    x = torch.cat([split.prefix.to(dtype) + position[:n_prefix], suffix], dim=1)
    for layer, block in enumerate(encoder.transformer.resblocks):
        if 1 <= layer <= len(deep_prompts):
            x = replace_context(x, deep_prompts[layer - 1], start=context_start)
        args = (block, x, n_prefix, split.shapes, causal)
        x = checkpoint(block_step, *args, use_reentrant=False) if recompute else block_step(*args)
    return encoder.ln_final(x.index_select(1, split.eos))
