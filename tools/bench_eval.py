"""What an evaluation pass and the feature cache cost, as ratios measured in one run
(see benchmarking/evaluation.py).

    python tools/bench_eval.py passes --classes 1000 --batch 100 --test-images 50000
    python tools/bench_eval.py cache --root $DATA --dataset imagenet --arch ViT-B/16
    python tools/bench_eval.py passes --tiny        # CPU smoke runs (tests use them)
    python tools/bench_eval.py cache --tiny
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarking.evaluation import main  # noqa: E402

if __name__ == "__main__":
    main()
