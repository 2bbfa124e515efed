"""Random CLIP weights in OpenAI's exact key layout, for tests and benchmarks without downloads.

``load_clip("random:ViT-B/16")`` (or ``random:RN50``, CoOp's backbone) builds the real
architecture with random weights through the same state-dict path as OpenAI's files, so timings
and memory match the real model. ``tiny`` and ``tiny-RN`` are the smallest ViT and ResNet that
path accepts, for tests.
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
# ResNet towers (OpenAI's ModifiedResNet): blocks per stage, stem width, image size, text width,
# embedding size; the text tower has 12 layers in all of them.
RESNETS = {
    "tiny-RN": dict(layers=(1, 1, 1, 1), width=8, image_size=32, text_width=64, text_layers=2,
                    embed_dim=32),
    "RN50": dict(layers=(3, 4, 6, 3), width=64, image_size=224, text_width=512, embed_dim=1024),
    "RN101": dict(layers=(3, 4, 23, 3), width=64, image_size=224, text_width=512, embed_dim=512),
    "RN50x4": dict(layers=(4, 6, 10, 6), width=80, image_size=288, text_width=640, embed_dim=640),
    "RN50x16": dict(layers=(6, 8, 18, 8), width=96, image_size=384, text_width=768,
                    embed_dim=768),
    "RN50x64": dict(layers=(3, 15, 36, 10), width=128, image_size=448, text_width=1024,
                    embed_dim=1024),
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


def _normal(generator):
    def rand(*shape, std):
        return torch.randn(*shape, generator=generator) * std

    return rand


def _text_embeddings(text_width, embed_dim, rand):
    """The text tower's single tensors, the same in every CLIP."""
    return {
        "positional_embedding": rand(CONTEXT_LENGTH, text_width, std=0.01),
        "text_projection": rand(text_width, embed_dim, std=text_width**-0.5),
        "logit_scale": torch.tensor(4.6052),  # log(100), as in trained CLIP
        "token_embedding.weight": rand(VOCAB_SIZE, text_width, std=0.02),
        "ln_final.weight": torch.ones(text_width),
        "ln_final.bias": torch.zeros(text_width),
    }


def _blocks(prefix, layers, width, rand):
    state = {}
    for i in range(layers):
        state.update(_block(f"{prefix}.{i}", width, rand))
    return state


def random_clip_state_dict(vision_width=64, vision_layers=2, patch_size=8, image_size=32,
                           text_width=64, text_layers=2, embed_dim=32, seed=0):
    """A ViT CLIP state dict with exactly the keys and shapes of OpenAI's checkpoints.

    Widths must be multiples of 64: OpenAI's layout implies heads = width / 64. The draws keep
    one fixed order (vision singles, text singles, vision blocks, text blocks): the shipped toy
    CLIPs store only their trained tensors and rebuild the rest from this function and the seed.
    """
    rand = _normal(torch.Generator().manual_seed(seed))
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
    }
    state.update(_text_embeddings(text_width, embed_dim, rand))
    state.update(_blocks("visual.transformer.resblocks", vision_layers, vision_width, rand))
    state.update(_blocks("transformer.resblocks", text_layers, text_width, rand))
    return state


def random_resnet_clip_state_dict(layers, width, image_size, text_width, embed_dim,
                                  text_layers=12, seed=0):
    """A ResNet CLIP state dict with the keys and shapes of OpenAI's RN checkpoints.

    The vision tower's keys come from open_clip's ModifiedResNet, the class OpenAI's files load
    into, initialised under ``seed`` (BatchNorm statistics at their defaults); the loader infers
    the architecture back from these shapes, as it does for a real file.
    """
    from open_clip.modified_resnet import ModifiedResNet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        visual = ModifiedResNet(list(layers), output_dim=embed_dim, heads=width * 32 // 64,
                                image_size=image_size, width=width)
    state = {f"visual.{key}": value for key, value in visual.state_dict().items()}
    rand = _normal(torch.Generator().manual_seed(seed))
    state.update(_text_embeddings(text_width, embed_dim, rand))
    state.update(_blocks("transformer.resblocks", text_layers, text_width, rand))
    return state


def architecture_state_dict(name, seed=0):
    if name in ARCHITECTURES:
        return random_clip_state_dict(**ARCHITECTURES[name], seed=seed)
    if name in RESNETS:
        return random_resnet_clip_state_dict(**RESNETS[name], seed=seed)
    known = sorted(ARCHITECTURES) + sorted(RESNETS)
    raise ValueError(f"unknown random CLIP architecture {name!r}; known: {', '.join(known)}")
