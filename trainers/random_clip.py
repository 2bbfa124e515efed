"""Random CLIP weights in OpenAI's exact key layout, for tests and benchmarks without downloads.

``load_clip("random:ViT-B/16")`` builds the real architecture with random weights through the
same state-dict path as OpenAI's files, so timings and memory match the real model.
"""

import torch

VOCAB_SIZE = 49408
CONTEXT_LENGTH = 77
# vision width/layers/patch/image size, text width/layers, embedding size (OpenAI's shapes)
ARCHITECTURES = {
    "tiny": dict(vision_width=64, vision_layers=2, patch_size=8, image_size=32,
                 text_width=64, text_layers=2, embed_dim=32),
    "ViT-B/32": dict(vision_width=768, vision_layers=12, patch_size=32, image_size=224,
                     text_width=512, text_layers=12, embed_dim=512),
    "ViT-B/16": dict(vision_width=768, vision_layers=12, patch_size=16, image_size=224,
                     text_width=512, text_layers=12, embed_dim=512),
}


def _block(prefix, width, rand):
    return {
        f"{prefix}.attn.in_proj_weight": rand(3 * width, width, std=width**-0.5),
        f"{prefix}.attn.in_proj_bias": torch.zeros(3 * width),
        f"{prefix}.attn.out_proj.weight": rand(width, width, std=width**-0.5),
        f"{prefix}.attn.out_proj.bias": torch.zeros(width),
        f"{prefix}.ln_1.weight": torch.ones(width),
        f"{prefix}.ln_1.bias": torch.zeros(width),
        f"{prefix}.mlp.c_fc.weight": rand(4 * width, width, std=width**-0.5),
        f"{prefix}.mlp.c_fc.bias": torch.zeros(4 * width),
        f"{prefix}.mlp.c_proj.weight": rand(width, 4 * width, std=(4 * width) ** -0.5),
        f"{prefix}.mlp.c_proj.bias": torch.zeros(width),
        f"{prefix}.ln_2.weight": torch.ones(width),
        f"{prefix}.ln_2.bias": torch.zeros(width),
    }


def random_clip_state_dict(vision_width=64, vision_layers=2, patch_size=8, image_size=32,
                           text_width=64, text_layers=2, embed_dim=32, seed=0):
    """A ViT CLIP state dict with exactly the keys and shapes of OpenAI's checkpoints.

    Widths must be multiples of 64: OpenAI's layout implies heads = width / 64.
    """
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape, std):
        return torch.randn(*shape, generator=generator) * std

    grid = image_size // patch_size
    state = {
        "visual.class_embedding": rand(vision_width, std=vision_width**-0.5),
        "visual.positional_embedding": rand(grid * grid + 1, vision_width, std=vision_width**-0.5),
        "visual.proj": rand(vision_width, embed_dim, std=vision_width**-0.5),
        "visual.conv1.weight": rand(vision_width, 3, patch_size, patch_size,
                                    std=(3 * patch_size * patch_size) ** -0.5),
        "visual.ln_pre.weight": torch.ones(vision_width),
        "visual.ln_pre.bias": torch.zeros(vision_width),
        "visual.ln_post.weight": torch.ones(vision_width),
        "visual.ln_post.bias": torch.zeros(vision_width),
        "positional_embedding": rand(CONTEXT_LENGTH, text_width, std=0.01),
        "text_projection": rand(text_width, embed_dim, std=text_width**-0.5),
        "logit_scale": torch.tensor(4.6052),  # log(100), as in trained CLIP
        "token_embedding.weight": rand(VOCAB_SIZE, text_width, std=0.02),
        "ln_final.weight": torch.ones(text_width),
        "ln_final.bias": torch.zeros(text_width),
    }
    for i in range(vision_layers):
        state.update(_block(f"visual.transformer.resblocks.{i}", vision_width, rand))
    for i in range(text_layers):
        state.update(_block(f"transformer.resblocks.{i}", text_width, rand))
    return state


def architecture_state_dict(name, seed=0):
    if name not in ARCHITECTURES:
        known = sorted(ARCHITECTURES)
        raise ValueError(f"unknown random CLIP architecture {name!r}; known: {known}")
    return random_clip_state_dict(**ARCHITECTURES[name], seed=seed)
