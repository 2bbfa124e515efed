"""CLIP's vision transformer driven from our code, with a hook for visual prompt tokens.

open_clip's ``VisionTransformer.forward`` has no place to insert tokens, and upstream MaPLe
answered that with an edited copy of CLIP's ``model.py``. Here the unmodified submodules
(``conv1``, ``class_embedding``, ``positional_embedding``, ``patch_dropout``, ``ln_pre``, the
residual blocks, ``ln_post``, ``proj``) are called in open_clip's order, so without prompts the
result is ``visual(image)`` exactly. With prompts, as MaPLe defines them:

- the shallow prompt (n_ctx, width) is appended after the patch tokens, without a positional
  embedding, before ``ln_pre``;
- deep prompt ``i`` (1-based) replaces the last n_ctx tokens at the input of layer ``i``, so
  the tokens the previous layer produced for the prompt are discarded.
"""

import torch
import torch.nn as nn
from open_clip.transformer import VisionTransformer

from trainers.text_encoder import run_blocks


def require_vision_transformer(visual, trainer="visual prompts", backbone=None):
    """Refuse a ResNet tower before any prompt is built, in one line naming the backbone."""
    if not isinstance(visual, VisionTransformer):
        got = f"MODEL.BACKBONE.NAME {backbone}" if backbone else type(visual).__name__
        raise ValueError(
            f"{trainer} needs a vision transformer backbone (ViT-B/16, ViT-B/32, ...), got "
            f"{got}, a {type(visual).__name__}: a ResNet has no token sequence to prompt"
        )


class ImageEncoder(nn.Module):
    def __init__(self, visual):
        super().__init__()
        require_vision_transformer(visual)
        if visual.attn_pool is not None or visual.pool_type != "tok" or visual.final_ln_after_pool:
            raise ValueError("only CLIP's class-token pooling (OpenAI ViT layout) is supported")
        self.conv1 = visual.conv1
        self.class_embedding = visual.class_embedding
        self.positional_embedding = visual.positional_embedding
        self.patch_dropout = visual.patch_dropout
        self.ln_pre = visual.ln_pre
        self.transformer = visual.transformer
        self.ln_post = visual.ln_post
        self.proj = visual.proj
        self.output_dim = visual.output_dim
        self.batch_first = getattr(visual.transformer, "batch_first", True)

    @property
    def dtype(self):
        return self.conv1.weight.dtype

    @property
    def width(self):
        return self.conv1.out_channels

    @property
    def num_layers(self):
        return len(self.transformer.resblocks)

    def embed(self, image):
        """Class token + patch tokens with positional embeddings: (B, 1 + grid**2, width)."""
        x = self.conv1(image.to(self.dtype))
        x = x.flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).view(1, 1, -1).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        return self.patch_dropout(x)

    def forward(self, image, shallow_prompt=None, deep_prompts=None):
        """Projected class-token features (B, output_dim).

        ``shallow_prompt``: (n_ctx, width) tokens appended before ``ln_pre``. ``deep_prompts``:
        tensors (n_ctx, width) for layers 1, 2, ...; they need a shallow prompt to replace.
        """
        deep_prompts = list(deep_prompts or [])
        if deep_prompts and shallow_prompt is None:
            raise ValueError("deep visual prompts replace the shallow prompt's tokens: give both")
        x = self.embed(image)
        if shallow_prompt is not None:
            prompt = shallow_prompt.to(x.dtype).unsqueeze(0).expand(x.shape[0], -1, -1)
            x = torch.cat([x, prompt], dim=1)
        x = run_blocks(self.transformer, self.ln_pre(x), deep_prompts, self._replace_last)
        pooled = self.ln_post(x[:, 0])
        return pooled if self.proj is None else pooled @ self.proj

    def _replace_last(self, x, prompt):
        seq_dim = 1 if self.batch_first else 0
        n_ctx = prompt.shape[0]
        shape = list(x.shape)
        shape[seq_dim] = n_ctx
        prompt = prompt.to(x.dtype).unsqueeze(1 - seq_dim).expand(shape)
        kept = x.narrow(seq_dim, 0, x.shape[seq_dim] - n_ctx)
        return torch.cat([kept, prompt], dim=seq_dim)
