"""Command line of the toy world: ``pretrain`` a model, ``make`` a world (model + data root)."""

import json
import math
import os
import sys
import time
from pathlib import Path

import torch

from .checkpoint import FAITHFUL, SHIPPED, STRESS, read_compact, save_compact, write_clip_checkpoint
from .draw import SCENES
from .layout import DATA_FOLDER, MODEL_FILE, bank_path, write_dataset
from .world import make_world

# the shipped worlds: world seed, model file, image style, the base classes' scene, a logit
# scale written into the expanded checkpoint (None: the one the model carries)
KINDS = {
    "pipeline": dict(seed=0, model=SHIPPED, style="dataset", base_scene="plain", write_scale=None),
    "faithful": dict(seed=4, model=FAITHFUL, style="dataset", base_scene="warm", write_scale=None),
    "stress": dict(seed=0, model=STRESS, style="pretrain", base_scene="plain", write_scale=None),
    "stress100": dict(seed=0, model=STRESS, style="pretrain", base_scene="plain",
                      write_scale=100.0),
}

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # launch/ stands at the top
from launch.cli import ArgumentParser, HelpFormatter, split_opts  # noqa: E402


def pretrain_compact(seed, steps, out, crop_share=0.5, scenes=("plain",), logit_scale=None):
    from .pretrain import ARCH, pretrain

    state, token_ids, stats = pretrain(seed=seed, steps=steps, crop_share=crop_share,
                                       scenes=scenes, logit_scale=logit_scale)
    meta = {"pretrain_seed": seed, **stats, "arch": ARCH}
    save_compact(out, state, token_ids, ARCH, init_seed=seed, meta=meta)
    print(f"wrote {out} ({json.dumps(stats)})")
    return out


def make(out, seed, model, pretrain_seed, steps, counts, colours, shapes, style="dataset",
         crop_share=0.5, widths=None, base_scene="plain", scenes=("plain",), logit_scale=None,
         write_scale=None):
    """Write ``out/toy_clip.pt`` and the data root ``out/data``; returns their paths."""
    out = Path(out)
    if pretrain_seed is not None:
        compact = out / f"toy_clip_seed{pretrain_seed}.compact.pt"
        model = pretrain_compact(pretrain_seed, steps, compact, crop_share, scenes, logit_scale)
    state, meta = read_compact(model)
    if base_scene not in meta.get("scenes", ["plain"]):
        raise ValueError(f"{model}: the model never saw the scene {base_scene!r} (it knows "
                         f"{', '.join(meta.get('scenes', ['plain']))})")
    if write_scale:
        state["logit_scale"] = torch.tensor(math.log(write_scale))
        meta["logit_scale"] = f"{write_scale} (written; learned {meta.get('logit_scale')})"
    if widths:
        from .widen import widen_state_dict

        state = widen_state_dict(state, *widths)
    clip_path = write_clip_checkpoint(state, out / MODEL_FILE)
    world = make_world(seed, n_base_colours=colours[0], n_new_colours=colours[1], n_shapes=shapes)
    started = time.time()
    root = out / DATA_FOLDER
    write_dataset(root, world, counts=counts, style=style, base_scene=base_scene)
    print(f"toy world {seed}: {len(world.base_classes)} base classes "
          f"({', '.join(world.base_colours)}), {len(world.new_classes)} new "
          f"({', '.join(world.new_colours)}) over shapes {', '.join(world.shapes)}; "
          f"bank of {len(world.bank)} names; data in {time.time() - started:.1f}s")
    print(f"model: {clip_path} (pretrain seed {meta.get('pretrain_seed')}, logit scale "
          f"{meta.get('logit_scale')}, {meta.get('scale_trained', 'learned')}); base images in "
          f"the {base_scene} scene, {style} style")
    print(f"train.py: --root {root} --dataset-config-file configs/datasets/caltech101.yaml "
          f"MODEL.BACKBONE.NAME {clip_path} INPUT.SIZE \"(32, 32)\" "
          f"TRAINER.SAR.NOVEL_SOURCE {bank_path(root)}")
    return clip_path, root


def non_negative(text):
    """An int >= 0 (a seed); argparse names the option when this refuses."""
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


non_negative.__name__ = "non-negative integer"  # argparse's "invalid <name> value: 'X'"


def positive(text):
    value = int(text)
    if value <= 0:
        raise ValueError(text)
    return value


positive.__name__ = "positive integer"


def build_parser():
    parser = ArgumentParser(
        prog="python -m tools.toy_world",
        description="A pretrained toy CLIP and its downstream worlds (see tools/toy_world).",
        formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    pre = sub.add_parser("pretrain", help="pretrain a toy CLIP into a compact file",
                         formatter_class=HelpFormatter)
    pre.add_argument("--seed", type=non_negative, default=0,
                     help="pretraining seed (init, images, order)")
    pre.add_argument("--steps", type=positive, default=3000, help="contrastive steps")
    pre.add_argument("--out", required=True, help="compact model file to write")
    pre.add_argument("--crop-share", type=float, default=0.5,
                     help="share of images seen through the trainers' random resized crop "
                          "(0: a crop-naive model, the stress world of docs/toy_world.md)")
    _scene_options(pre)
    mk = sub.add_parser("make", help="write a model checkpoint and a world's data root",
                        formatter_class=HelpFormatter)
    mk.add_argument("--out", required=True, help="folder for toy_clip.pt and data/")
    mk.add_argument("--seed", type=non_negative, default=None,
                    help="world seed: split and images (default: the kind's)")
    mk.add_argument("--kind", choices=sorted(KINDS), default="pipeline",
                    help="which shipped world: faithful (CoOp gains on base, loses on new), "
                         "pipeline (worlds 0/1: nothing moves), stress (crop-naive model), "
                         "stress100 (the same with CLIP's scale 100 written in)")
    mk.add_argument("--model", default=None, help="compact model file to expand (default: the "
                                                  "kind's)")
    mk.add_argument("--pretrain-seed", type=non_negative, default=None,
                    help="pretrain a fresh model with this seed instead of using --model")
    mk.add_argument("--steps", type=positive, default=3000,
                    help="pretraining steps (with --pretrain-seed)")
    mk.add_argument("--images", type=int, nargs=3, default=(32, 8, 40),
                    metavar=("TRAIN", "VAL", "TEST"),
                    help="images per class in each split")
    mk.add_argument("--colours", type=int, nargs=2, default=(3, 3), metavar=("BASE", "NEW"),
                    help="colours of the base and of the new classes")
    mk.add_argument("--shapes", type=int, default=6, help="shapes of the dataset's classes")
    mk.add_argument("--style", choices=("dataset", "pretrain"), default=None,
                    help="how the dataset's images look: its own style, or pretraining's "
                         "(default: the kind's)")
    mk.add_argument("--base-scene", choices=SCENES, default=None,
                    help="scene of the base classes' images; new classes stay plain "
                         "(default: the kind's)")
    mk.add_argument("--write-scale", type=float, default=None,
                    help="logit scale written into the expanded checkpoint (default: the "
                         "kind's; none: the model's own)")
    mk.add_argument("--crop-share", type=float, default=0.5,
                    help="with --pretrain-seed: share of images seen through the random crop")
    _scene_options(mk)
    mk.add_argument("--widths", type=int, nargs=2, default=None, metavar=("TEXT", "VISION"),
                    help="tile the model to these tower widths, computing the same features "
                         "(512 768: ViT-B/16's, which upstream MaPLe and PromptSRC hard-code)")
    bn = sub.add_parser(
        "bench", help="the base-to-new table on a world, via the scripts",
        formatter_class=HelpFormatter,
        epilog="KEY VALUE pairs for every run (e.g. OPTIM.MAX_EPOCH 50) go last; they start at "
               "the first upper-case dotted key or after '--', so they may follow --seeds. "
               "Progress goes to stderr, one line per job with its log; a finished run is reused "
               "only when it was made with the same options.")
    bn.add_argument("--world", required=True, help="a folder written by 'make'")
    bn.add_argument("--methods", nargs="+", default=["zeroshotclip", "coop", "coop_sar"],
                    help="script folders: zeroshotclip coop cocoop kgcoop maple promptsrc, "
                         "each also with _sar")
    bn.add_argument("--seeds", nargs="+", type=non_negative, default=[1, 2, 3, 4, 5],
                    help="seeds of every trained method (ZeroshotCLIP runs once: no seed "
                         "changes it)")
    bn.add_argument("--out", required=True, help="output root (the scripts' OUTPUT)")
    bn.add_argument("--jobs", type=positive, default=2, help="runs at a time, one thread each")
    bn.add_argument("--tag", default="", help="EXP_TAG: keeps a sweep point's runs apart")
    bn.add_argument("--report", default=None, help="append the markdown table to this file")
    return parser


def parse_args(argv=None):
    """The parsed command line; a bench's trailing KEY VALUE pairs land in ``args.opts``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    flags, opts = split_opts(argv)
    parser = build_parser()
    args = parser.parse_args(flags)
    args.opts = opts
    if opts and args.command != "bench":
        parser.error(f"unexpected KEY VALUE pairs for '{args.command}': {' '.join(opts)}")
    if len(opts) % 2:
        parser.error(f"KEY VALUE pairs come in twos, got {len(opts)} words: {' '.join(opts)}")
    if args.command in ("make", "pretrain"):
        check_out(parser, args)
    if args.command == "make":
        check_world_args(parser, args)
    return args


def check_world_args(parser, args):
    """The world's sizes, checked before the model is written, not after."""
    if min(args.images) < 1:
        parser.error(f"--images: every split needs at least 1 image per class, got "
                     f"{' '.join(map(str, args.images))}")
    try:
        seed = KINDS[args.kind]["seed"] if args.seed is None else args.seed
        make_world(seed, n_base_colours=args.colours[0], n_new_colours=args.colours[1],
                   n_shapes=args.shapes)
    except ValueError as error:
        parser.error(f"--colours/--shapes: {error}")


def check_out(parser, args):
    """Refuse an --out that cannot be written, before anything is: make's is a folder, and
    pretrain's a file whose folder must not be a file."""
    out = Path(args.out)
    if args.command == "make" and out.exists() and not out.is_dir():
        parser.error(f"--out {out}: exists and is not a folder")
    if args.command == "pretrain" and out.is_dir():
        parser.error(f"--out {out}: is a folder; give the compact model file to write")
    parent = out.parent if args.command == "pretrain" else out
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        parser.error(f"--out {out}: {parent} is a file, not a folder")
    if parent.exists() and not os.access(parent, os.W_OK):
        parser.error(f"--out {out}: {parent} is not writable")


def _scene_options(parser):
    parser.add_argument("--scenes", nargs="+", choices=SCENES, default=["plain"],
                        help="scenes of the pretraining images, named in their captions "
                             "(plain first)")
    parser.add_argument("--logit-scale", type=float, default=None,
                        help="train at this logit scale throughout (100: CLIP's); default: "
                             "learned, clamped at 100")


def make_from_args(args):
    """``make`` with the kind's defaults for what the command line leaves out."""
    kind = KINDS[args.kind]
    pick = {key: kind[key] if getattr(args, key) is None else getattr(args, key)
            for key in ("seed", "model", "style", "base_scene", "write_scale")}
    return make(args.out, pick["seed"], str(pick["model"]), args.pretrain_seed, args.steps,
                tuple(args.images), tuple(args.colours), args.shapes, pick["style"],
                args.crop_share, args.widths, pick["base_scene"], tuple(args.scenes),
                args.logit_scale, pick["write_scale"])


def run_bench(args):
    from .bench import bench, emit

    table, failures = bench(args.world, args.methods, args.seeds, args.out, jobs=args.jobs,
                            opts=args.opts, tag=args.tag)
    return emit(table, failures, args.report, f"{args.out}/jobs")


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.command == "pretrain":
            pretrain_compact(args.seed, args.steps, args.out, args.crop_share,
                             tuple(args.scenes), args.logit_scale)
        elif args.command == "bench":
            return run_bench(args)
        else:
            make_from_args(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
