"""Training curves of a run folder as a PNG, for people without TensorBoard.

    python tools/plot_curves.py RUN_DIR [-o PNG]      # default: RUN_DIR/curves.png

Reads the progress lines Dassl prints into the run's newest log (``epoch [e/E] batch [b/B] ...
loss 1.23 (1.40) loss_ce ... acc 50.0 (45.0) lr 2.0e-03 eta ...``): every logged term (loss,
loss_ce, loss_sar, loss_kg, PromptSRC's loss_scl_*), the training accuracy and the learning
rate, one panel each, against the iteration. The values are those of the logged iterations
(every TRAIN.PRINT_FREQ batches); TensorBoard's event files (RUN_DIR/tensorboard) hold every
iteration's running average, when the tensorboard package is installed.
"""

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from parse_test_res import NUMBER, newest_log  # noqa: E402
from plotting import figures as plotting  # noqa: E402

PROGRESS = re.compile(r"epoch \[(\d+)/(\d+)\] batch \[(\d+)/(\d+)\]")
METER = re.compile(r"(\w+) " + NUMBER + r" \(" + NUMBER + r"\)")
LR = re.compile(r"\blr " + NUMBER)
NOT_CURVES = {"time", "data"}  # timing meters of the progress line, not training quantities


def read_curves(log_path):
    """{name: (iterations, values)} from the progress lines, in the order the log names them.

    The iteration counts from 0, as the TensorBoard scalars do: (epoch - 1) * batches + batch - 1.
    """
    curves = {}
    with open(log_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            progress = PROGRESS.search(line)
            if not progress:
                continue
            epoch, _, batch, batches = map(int, progress.groups())
            step = (epoch - 1) * batches + batch - 1
            values = [(m.group(1), float(m.group(2))) for m in METER.finditer(line)]
            lr = LR.search(line)
            if lr:
                values.append(("lr", float(lr.group(1))))
            for name, value in values:
                if name not in NOT_CURVES:
                    steps, points = curves.setdefault(name, ([], []))
                    steps.append(step)
                    points.append(value)
    return curves


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a training output folder")
    parser.add_argument("-o", "--output", default=None,
                        help="the PNG to write (default: RUN_DIR/curves.png, beside the log)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.output = args.output or os.path.join(args.run_dir, "curves.png")
    log = newest_log(args.run_dir)
    if log is None:
        print(f"error: no log.txt in {args.run_dir}", file=sys.stderr)
        return 1
    curves = read_curves(log)
    if not curves:
        print(f"error: {log} has no training progress lines ('epoch [e/E] batch [b/B] ...')",
              file=sys.stderr)
        return 1
    try:
        size = plotting.plot_curves(curves, args.output, f"Training curves of {args.run_dir}")
    except ImportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({size[0]}x{size[1]} px): {', '.join(curves)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
