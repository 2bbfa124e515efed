"""Time training steps of any trainer on a random-weight CLIP (see benchmarking/steps.py).

    python tools/benchmark.py --trainers CoOp CoOp_SAR --classes 500 --novel 500 --compare
    python tools/benchmark.py --tiny --steps 2              # CPU smoke run (tests use it)
    python tools/benchmark.py pipeline --root $DATA --dataset imagenet --workers 0 4 8
    python tools/benchmark.py textenc --class-counts 100 500 1000   # FLOP rate vs matmul peak
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarking.steps import main  # noqa: E402

if __name__ == "__main__":
    main()
