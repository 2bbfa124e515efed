"""Write a tiny random CLIP checkpoint in OpenAI's key layout.

Tests, the quick start and CI cannot download real weights, so they load this file through the
same ``trainers.backbone.load_clip`` path as ``ViT-B-16.pt``. Width 64 keeps one attention head
(OpenAI's layout implies heads = width / 64); the vocabulary and context length are CLIP's real
ones so the real tokenizer works.

    python tools/make_tiny_clip.py output/tiny_clip.pt [--jit] [--image-size 32]
"""

import argparse
import os
import sys

import torch

VOCAB_SIZE = 49408
CONTEXT_LENGTH = 77


def _block(prefix, width, generator):
    def rand(*shape, std):
        return torch.randn(*shape, generator=generator) * std

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


def tiny_clip_state_dict(width=64, layers=2, embed_dim=32, image_size=32, patch_size=8, seed=0):
    """A random ViT CLIP state dict with exactly the keys and shapes of OpenAI's checkpoints."""
    generator = torch.Generator().manual_seed(seed)
    grid = image_size // patch_size
    state = {
        "visual.class_embedding": torch.randn(width, generator=generator) * width**-0.5,
        "visual.positional_embedding": torch.randn(grid * grid + 1, width, generator=generator)
        * width**-0.5,
        "visual.proj": torch.randn(width, embed_dim, generator=generator) * width**-0.5,
        "visual.conv1.weight": torch.randn(width, 3, patch_size, patch_size, generator=generator)
        * (3 * patch_size * patch_size) ** -0.5,
        "visual.ln_pre.weight": torch.ones(width),
        "visual.ln_pre.bias": torch.zeros(width),
        "visual.ln_post.weight": torch.ones(width),
        "visual.ln_post.bias": torch.zeros(width),
        "positional_embedding": torch.randn(CONTEXT_LENGTH, width, generator=generator) * 0.01,
        "text_projection": torch.randn(width, embed_dim, generator=generator) * width**-0.5,
        "logit_scale": torch.tensor(4.6052),  # log(100), as in trained CLIP
        "token_embedding.weight": torch.randn(VOCAB_SIZE, width, generator=generator) * 0.02,
        "ln_final.weight": torch.ones(width),
        "ln_final.bias": torch.zeros(width),
    }
    for i in range(layers):
        state.update(_block(f"visual.transformer.resblocks.{i}", width, generator))
        state.update(_block(f"transformer.resblocks.{i}", width, generator))
    return state


def write_tiny_clip(path, jit=False, **kwargs):
    """Save the tiny CLIP as a plain state dict, or as a TorchScript archive like OpenAI ships."""
    state = tiny_clip_state_dict(**kwargs)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if jit:
        from open_clip.model import build_model_from_openai_state_dict, trace_model

        model = build_model_from_openai_state_dict(dict(state), quick_gelu=True).float()
        model.visual.image_size = kwargs.get("image_size", 32)  # trace_model wants an int
        traced = trace_model(model, batch_size=1, device=torch.device("cpu"))
        torch.jit.save(traced, path)
    else:
        torch.save(state, path)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--jit", action="store_true", help="save a TorchScript archive")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--patch-size", type=int, default=8)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    write_tiny_clip(args.path, jit=args.jit, image_size=args.image_size,
                    patch_size=args.patch_size, layers=args.layers, seed=args.seed)
    print(f"wrote {args.path}")


if __name__ == "__main__":
    sys.exit(main())
