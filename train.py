"""Train or evaluate a CLIP prompt learner: the CoOp-family command line, unchanged.

Config order, as upstream: Dassl defaults -> trainer nodes (extend_cfg) -> dataset YAML ->
method YAML -> CLI flags -> trailing KEY VALUE opts -> freeze.
"""

import argparse
import difflib
import os
import sys

from dassl_fallback import ensure_dassl

DASSL_ORIGIN = ensure_dassl()

import torch  # noqa: E402

import launch.registration  # noqa: E402,F401  (registers every trainer and dataset)
from dassl.config import get_cfg_default  # noqa: E402
from dassl.engine import TRAINER_REGISTRY, build_trainer  # noqa: E402
from dassl.utils import collect_env_info, set_random_seed, setup_logger  # noqa: E402
from launch.guard import UsageError, check_run_inputs, check_yaml_file, run_guarded  # noqa: E402
from launch.lifeline import follow_runner  # noqa: E402
from trainers.backbone_input import fill_input  # noqa: E402
from trainers.config import (  # noqa: E402
    all_keys,
    coerce_int_opts,
    extend_cfg,
    unread_opt_keys,
    unread_trainer_nodes,
)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=str, default="", help="path to dataset")
    parser.add_argument("--output-dir", type=str, default="", help="output directory")
    parser.add_argument("--resume", type=str, default="", help="checkpoint directory to resume")
    parser.add_argument("--seed", type=int, default=-1, help="fixed seed (>= 0)")
    parser.add_argument("--source-domains", type=str, nargs="+", help="source domains for DA/DG")
    parser.add_argument("--target-domains", type=str, nargs="+", help="target domains for DA/DG")
    parser.add_argument("--transforms", type=str, nargs="+", help="data augmentation methods")
    parser.add_argument("--config-file", type=str, default="", help="path to config file")
    parser.add_argument("--dataset-config-file", type=str, default="",
                        help="path to config file for dataset setup")
    parser.add_argument("--trainer", type=str, default="", help="name of trainer")
    parser.add_argument("--backbone", type=str, default="",
                        help="CLIP backbone, as MODEL.BACKBONE.NAME: an OpenAI name (ViT-B/16, "
                             "RN50, ...) or a checkpoint file")
    parser.add_argument("--head", type=str, default="", help="name of head")
    parser.add_argument("--eval-only", action="store_true", help="evaluation only")
    parser.add_argument("--model-dir", type=str, default="",
                        help="load model from this directory for eval-only mode")
    parser.add_argument("--load-epoch", type=int, help="epoch of the weights to evaluate")
    parser.add_argument("--no-train", action="store_true", help="do not call trainer.train()")
    parser.add_argument("opts", default=None, nargs=argparse.REMAINDER,
                        help="modify config options using the command-line")
    return parser


def reset_cfg(cfg, args):
    if args.root:
        cfg.DATASET.ROOT = args.root
    if args.output_dir:
        cfg.OUTPUT_DIR = args.output_dir
    if args.resume:
        cfg.RESUME = args.resume
    if args.seed is not None:  # upstream's `if args.seed:` dropped --seed 0
        cfg.SEED = args.seed
    if args.source_domains:
        cfg.DATASET.SOURCE_DOMAINS = args.source_domains
    if args.target_domains:
        cfg.DATASET.TARGET_DOMAINS = args.target_domains
    if args.transforms:
        cfg.INPUT.TRANSFORMS = args.transforms
    if args.trainer:
        cfg.TRAINER.NAME = args.trainer
    if args.backbone:
        cfg.MODEL.BACKBONE.NAME = args.backbone
    if args.head:
        cfg.MODEL.HEAD.NAME = args.head


def merge_checked(cfg, source, merge):
    """Run a yacs merge, turning its errors into one line naming the key and the source."""
    try:
        merge()
    except (KeyError, AssertionError) as error:  # yacs: KeyError from files, assert from lists
        message = str(error).strip("'\"")
        if "Non-existent" not in message:
            raise UsageError(f"{source}: {message}") from None
        key = message.rsplit(":", 1)[-1].strip()
        close = difflib.get_close_matches(key, list(all_keys(cfg)), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise UsageError(f"{source}: unknown config key {key}{hint}") from None
    except ValueError as error:
        message = str(error).splitlines()[0]
        if "<class 'float'> vs. <class 'int'>" in message:  # yacs: an int in a YAML float key
            message += " (write the number with a decimal point, e.g. 2.0)"
        raise UsageError(f"{source}: {message}") from None
    except FileNotFoundError as error:
        raise UsageError(f"config file not found: {error.filename}") from None


def setup_cfg(args):
    cfg = get_cfg_default()
    extend_cfg(cfg)
    for path in (args.dataset_config_file, args.config_file):
        if path:
            if not os.path.isfile(path):
                raise UsageError(f"config file not found: {path}")
            check_yaml_file(path)
            merge_checked(cfg, path, lambda p=path: cfg.merge_from_file(p))
    reset_cfg(cfg, args)
    opts = args.opts or []
    if len(opts) % 2:
        raise UsageError(f"config opts must be KEY VALUE pairs, got an odd list: {opts}")
    opts = coerce_int_opts(cfg, opts)  # "TRAINER.SAR.WEIGHT 2" means 2.0
    merge_checked(cfg, "command-line opts", lambda: cfg.merge_from_list(opts))
    fill_input(cfg)  # an open_clip backbone's own size, mean and std (trainers/backbone_input.py)
    cfg.freeze()
    return cfg


def check_cfg(cfg, args):
    if cfg.TRAINER.NAME not in TRAINER_REGISTRY.registered_names():
        raise UsageError(
            f"unknown trainer {cfg.TRAINER.NAME!r} (--trainer); registered: "
            f"{', '.join(sorted(TRAINER_REGISTRY.registered_names()))}"
        )
    if cfg.DATASET.SUBSAMPLE_CLASSES not in ("all", "base", "new"):
        raise UsageError(
            "DATASET.SUBSAMPLE_CLASSES must be all, base or new, "
            f"got {cfg.DATASET.SUBSAMPLE_CLASSES!r}"
        )
    if args.eval_only and args.model_dir and not os.path.isdir(args.model_dir):
        raise UsageError(f"--model-dir {args.model_dir} does not exist")
    if not cfg.OUTPUT_DIR:
        raise UsageError("--output-dir is required")
    check_run_inputs(cfg, args)


def print_args(args, cfg):
    print("***************")
    print("** Arguments **")
    print("***************")
    for key in sorted(vars(args)):
        print(f"{key}: {getattr(args, key)}")
    print("************")
    print("** Config **")
    print("************")
    print(cfg)


def run(args, cfg):
    if cfg.SEED >= 0:
        print(f"Setting fixed seed: {cfg.SEED}")
        set_random_seed(cfg.SEED)
    setup_logger(cfg.OUTPUT_DIR)
    warn_unread_nodes(args, cfg)
    if torch.cuda.is_available() and cfg.USE_CUDA:
        torch.backends.cudnn.benchmark = True
    print_args(args, cfg)
    print(f"Dassl engine: {DASSL_ORIGIN}")
    print("Collecting env info ...")
    print(f"** System info **\n{collect_env_info()}\n")
    trainer = build_trainer(cfg)
    if args.eval_only:
        if trainer.get_model_names() and not args.model_dir:
            raise UsageError(f"--eval-only with {cfg.TRAINER.NAME} needs --model-dir")
        trainer.load_model(args.model_dir, epoch=args.load_epoch)
        trainer.test()
        return
    if not args.no_train:
        trainer.train()


def warn_unread_nodes(args, cfg):
    """Another trainer's YAML or opts train this one on its defaults: say so, once, in the log."""
    trainer_class = TRAINER_REGISTRY.get(cfg.TRAINER.NAME)
    unread = [(args.config_file, f"TRAINER.{node}", "config")
              for node in (unread_trainer_nodes(args.config_file, trainer_class)
                           if args.config_file else [])]
    unread += [("the command line", key, "key")
               for key in unread_opt_keys(args.opts, trainer_class)]
    for source, key, kind in unread:
        print(f"Warning: {source} sets {key}, which {cfg.TRAINER.NAME} does not read (it is "
              f"another trainer's {kind}?)", file=sys.stderr)


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        cfg = setup_cfg(args)
        check_cfg(cfg, args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    runner_gone = follow_runner()  # under scripts/run_experiments.sh: end when it ends
    if runner_gone:
        print(f"error: {runner_gone}", file=sys.stderr)
        return 1
    return run_guarded(lambda: run(args, cfg), cfg.OUTPUT_DIR, lock=True)


if __name__ == "__main__":
    sys.exit(main())
