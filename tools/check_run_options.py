"""Exit 0 when a run folder's finished run was asked for the same options as a train.py argv.

The experiment scripts call it before skipping a folder that already holds a result:

    python tools/check_run_options.py RUN_DIR -- TRAIN_PY_ARGS...

Exit 1 prints, on one line, what differs (see launch/run_record.py for what is compared).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from launch.run_record import run_differences  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="the run folder (holds log.txt)")
    parser.add_argument("train_args", nargs=argparse.REMAINDER,
                        help="-- then the train.py arguments the new run would get")
    args = parser.parse_args(argv)
    train_args = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    found = run_differences(args.run_dir, train_args)
    if found:
        print("; ".join(found))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
