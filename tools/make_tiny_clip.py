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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


from trainers.random_clip import random_clip_state_dict


def tiny_clip_state_dict(width=64, layers=2, embed_dim=32, image_size=32, patch_size=8, seed=0):
    """The tiny CLIP: a 2-layer ViT of width 64 (one head) in both towers."""
    return random_clip_state_dict(vision_width=width, vision_layers=layers, patch_size=patch_size,
                                  image_size=image_size, text_width=width, text_layers=layers,
                                  embed_dim=embed_dim, seed=seed)


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
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0][:-1]
        + ": by default a 2-layer ViT of width 64 in both towers, for tests and CPU smoke runs.",
    )
    parser.add_argument("path", help="file to write, e.g. output/tiny_clip.pt "
                                     "(then MODEL.BACKBONE.NAME output/tiny_clip.pt)")
    parser.add_argument("--jit", action="store_true",
                        help="save a TorchScript archive, as OpenAI ships its weights, instead "
                             "of a plain state dict (default: off)")
    parser.add_argument("--image-size", type=int, default=32,
                        help="input side in pixels (pass INPUT.SIZE \"(N, N)\" to train.py; "
                             "default: %(default)s)")
    parser.add_argument("--patch-size", type=int, default=8,
                        help="ViT patch side in pixels (default: %(default)s)")
    parser.add_argument("--layers", type=int, default=2,
                        help="transformer layers in each tower (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random weights (default: %(default)s)")
    args = parser.parse_args(argv)
    write_tiny_clip(args.path, jit=args.jit, image_size=args.image_size,
                    patch_size=args.patch_size, layers=args.layers, seed=args.seed)
    print(f"wrote {args.path}")


if __name__ == "__main__":
    sys.exit(main())
