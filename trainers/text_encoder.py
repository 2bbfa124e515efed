"""CLIP's text tower driven from prompt embeddings instead of token ids.

Exact truncation: the text transformer is causal and pools at the EOS token, so running only the
first ``max_len`` positions (the longest prompt, EOS included) gives the same features as the
full 77 tokens at a fraction of the cost. Deep prompts (MaPLe) replace the context tokens at the
input of layers 1..k; that is the only hook the deep-prompt methods need.
"""

from functools import partial

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from trainers.progress import advance
from trainers.prompts import tokenize
from trainers.shared_prefix import (
    SplitPrompts,
    encode_split,
    replace_context,
    split_prompts,
    unsupported_reason,
)


def run_blocks(transformer, x, deep_prompts, replace, attn_mask=None, recompute=False):
    """Run the unmodified residual blocks of ``transformer`` on batch-first ``x`` (N, L, D).

    Shared by both towers' deep-prompt hooks: at the input of layer i (1-based) for
    i <= len(deep_prompts), ``x = replace(x, deep_prompts[i - 1])``, with ``x`` in the blocks'
    own layout (sequence-first when ``transformer.batch_first`` is False).
    ``recompute``: keep only each block's input for backward and run the block again there
    (activation checkpointing); the same numbers, far fewer bytes held between the passes.
    """
    deep_prompts = list(deep_prompts or [])
    batch_first = getattr(transformer, "batch_first", True)
    if not batch_first:
        x = x.transpose(0, 1)
    recompute = recompute and torch.is_grad_enabled()
    for layer, block in enumerate(transformer.resblocks):
        if 1 <= layer <= len(deep_prompts):
            x = replace(x, deep_prompts[layer - 1])
        if recompute and x.requires_grad:
            x = checkpoint(block, x, attn_mask=attn_mask, use_reentrant=False)
        else:
            x = block(x, attn_mask=attn_mask)
    return x if batch_first else x.transpose(0, 1)


class TextEncoder(nn.Module):
    # Benchmarks switch this off to time the upstream-equivalent full 77-token path.
    exact_truncation = True
    # Context lengths are rounded up to a multiple of this (compiled towers want few shapes).
    length_multiple = 1
    # TRAINER.TEXT_CHECKPOINT: recompute the blocks in backward (text_checkpointing(cfg)).
    recompute_blocks = False
    # TRAINER.SHARED_PREFIX: prompt learners pass SplitPrompts (trainers/shared_prefix.py).
    shared_prefix = True
    # Bucketing cost of one more length bucket, in padded positions (plan_buckets); None: the
    # device's default (shared_prefix.BUCKET_OVERHEAD_POSITIONS).
    bucket_overhead = None

    def __init__(self, clip_model):
        super().__init__()
        self.transformer = clip_model.transformer
        self.positional_embedding = clip_model.positional_embedding
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection
        self.token_embedding = clip_model.token_embedding
        self.register_buffer("attn_mask", clip_model.attn_mask.clone(), persistent=False)
        self.batch_first = getattr(clip_model.transformer, "batch_first", True)
        # why these blocks cannot take the shared-prefix path (None: they can)
        self.unshared_reason = unsupported_reason(clip_model.transformer)

    @property
    def shares_prefix(self):
        """Whether prompt learners should hand this tower SplitPrompts: the key is on, the
        blocks allow it, and the pass is not the benchmarks' full-77-token reference."""
        return self.shared_prefix and self.unshared_reason is None and self.exact_truncation

    def split(self, tokens, prefix=None):
        """``tokens`` laid out for the shared-prefix path behind ``prefix`` (G, P, D)."""
        return split_prompts(tokens, prefix, self.bucket_overhead, self.length_multiple)

    @property
    def dtype(self):
        return self.positional_embedding.dtype

    def forward(self, prompts, tokenized_prompts=None, deep_prompts=None, max_len=None,
                context_start=1):
        """Projected EOS features of ``prompts`` (N, 77, D), or (G, N, E) for SplitPrompts
        (the shared-prefix path, which needs no ``tokenized_prompts``).

        ``deep_prompts``: tensors (n_ctx, D) for layers 1, 2, ...; each replaces the n_ctx
        tokens from ``context_start`` on (1: right after SOS; after ATPrompt's attribute blocks,
        which pass through from layer 0) at that layer's input. ``max_len``: a static bound on
        the EOS position + 1 (saves a device sync); computed from ``tokenized_prompts`` when
        not given.
        """
        if isinstance(prompts, SplitPrompts):
            return self.project(encode_split(self, prompts, deep_prompts, context_start))
        eos = tokenized_prompts.argmax(dim=-1)
        if max_len is None:
            max_len = int(eos.max().item()) + 1
        max_len = self.context_length(max_len)
        x = prompts[:, :max_len].to(self.dtype) + self.positional_embedding[:max_len]
        mask = self.attn_mask[:max_len, :max_len].to(self.dtype)
        replace = partial(self._replace_context, start=context_start)
        x = run_blocks(self.transformer, x, deep_prompts, replace, attn_mask=mask,
                       recompute=self.recompute_blocks)
        x = self.ln_final(x)
        return self.project(x[torch.arange(x.shape[0], device=x.device), eos.to(x.device)])

    def project(self, pooled):
        if isinstance(self.text_projection, nn.Linear):
            return self.text_projection(pooled)
        return pooled @ self.text_projection

    def _replace_context(self, x, ctx, start=1):
        return replace_context(x, ctx, self.batch_first, start)

    def context_length(self, max_len):
        """Positions a pass runs for prompts whose longest EOS is at ``max_len - 1``."""
        full = self.positional_embedding.shape[0]
        if not self.exact_truncation:
            return full
        return min(-(-max_len // self.length_multiple) * self.length_multiple, full)

    @torch.no_grad()
    def encode_tokens(self, tokenized, chunk_size=1000, progress=None):
        """Frozen features of plain token ids (hand-crafted prompts), chunked to bound memory;
        each chunk advances ``progress`` (trainers/progress.py) if one is given."""
        device = self.positional_embedding.device
        features = []
        for start in range(0, tokenized.shape[0], chunk_size):
            chunk = tokenized[start : start + chunk_size].to(device)
            # forward, not __call__: a one-off frozen pass need not go through torch.compile
            features.append(self.forward(self.token_embedding(chunk), chunk).float())
            advance(progress, chunk.shape[0])
        return torch.cat(features)


def text_checkpointing(cfg):
    """``TRAINER.TEXT_CHECKPOINT``, read with ``get``: an upstream fork's config lacks it."""
    value = cfg.TRAINER.get("TEXT_CHECKPOINT", False)
    if not isinstance(value, bool):
        raise ValueError(f"TRAINER.TEXT_CHECKPOINT must be True or False, got {value!r}")
    return value


def shared_prefix_setting(cfg):
    """``TRAINER.SHARED_PREFIX``, read with ``get`` (default True: the path is exact)."""
    value = cfg.TRAINER.get("SHARED_PREFIX", True)
    if not isinstance(value, bool):
        raise ValueError(f"TRAINER.SHARED_PREFIX must be True or False, got {value!r}")
    return value


@torch.no_grad()
def hand_crafted_features(text_encoder, texts_per_class, normalize_each=True, progress=None):
    """Normalized frozen features per class; several templates per class are averaged (ensemble).

    ``normalize_each``: average unit vectors (CLIP's ensembling) or, False, the raw features, as
    PromptSRC's teacher does. ``progress``: (tokenizing, encoding) Progress lines, for a pass
    over a large bank.
    """
    n_templates = len(texts_per_class[0])
    flat = [text for texts in texts_per_class for text in texts]
    tokenizing, encoding = progress or (None, None)
    features = text_encoder.encode_tokens(tokenize(flat, tokenizing), progress=encoding)
    if normalize_each:
        features = features / features.norm(dim=-1, keepdim=True)
    features = features.view(len(texts_per_class), n_templates, -1).mean(dim=1)
    return features / features.norm(dim=-1, keepdim=True)
