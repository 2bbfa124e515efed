"""python -m tools.parity --world W --upstream DIR --out OUT [--methods ...] [KEY VALUE ...]"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from launch.cli import ArgumentParser, split_opts  # noqa: E402
from tools.parity.audit import ARMS, BASELINES, FORKS, audit  # noqa: E402
from tools.toy_world.bench import emit  # noqa: E402

__all__ = ["build_parser", "main", "split_opts"]


def arm_list(text):
    arms = [a for a in text.split(",") if a]
    unknown = [a for a in arms if a not in ARMS]
    if unknown or not arms:
        raise argparse.ArgumentTypeError(f"unknown arm {','.join(unknown) or text!r}; "
                                         f"known: {','.join(ARMS)}")
    return arms


def build_parser():
    parser = ArgumentParser(
        prog="python -m tools.parity",
        description="Train each baseline with its upstream repository and with ours (and ours "
                    "seeded once, as upstream is) on a toy world; print base/new/HM per arm.")
    parser.add_argument("--world", required=True, help="a folder written by tools.toy_world make")
    parser.add_argument("--upstream", required=True,
                        help="folder holding the fetched forks: CoOp, KgCoOp, "
                             "multimodal-prompt-learning, PromptSRC, Dassl.pytorch, ATPrompt")
    parser.add_argument("--methods", nargs="+", default=BASELINES, choices=list(FORKS),
                        help="methods to audit")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5],
                        help="seeds of every arm")
    parser.add_argument("--out", required=True, help="output root of all three arms")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each")
    parser.add_argument("--prec", default="fp32", help="TRAINER.<node>.PREC of both codebases")
    parser.add_argument("--report", default=None, help="append the markdown to this file")
    parser.add_argument("--gpu", action="store_true",
                        help="run on CUDA (USE_CUDA True; the runner's CPU shims then stay off)")
    parser.add_argument("--arms", type=arm_list, default=",".join(ARMS),
                        help="comma-separated arms to (re)train, of " + ",".join(ARMS) +
                             "; the report reads all three")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: report the runs already under --out")
    parser.epilog = ("KEY VALUE pairs for every run (e.g. OPTIM.MAX_EPOCH 50) go last; they start "
                     "at the first upper-case dotted key or after '--', so they may follow "
                     "--methods or --seeds.")
    return parser


def main(argv=None):
    flags, opts = split_opts(sys.argv[1:] if argv is None else list(argv))
    args = build_parser().parse_args(flags)
    opts = [*opts, *(["USE_CUDA", "True"] if args.gpu else [])]
    try:
        text, failures = audit(args.world, args.methods, args.seeds, args.out, args.upstream,
                               jobs=args.jobs, opts=opts, prec=args.prec,
                               run=not args.report_only, arms=args.arms)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return emit(text, failures, args.report, f"{args.out}/*/jobs")


if __name__ == "__main__":
    sys.exit(main())
