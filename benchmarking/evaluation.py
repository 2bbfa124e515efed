"""What an evaluation pass and the feature cache cost, as ratios measured in one run.

``passes``: the parts of an evaluation at N classes on a random-weight CLIP, timed in turns
(image tower on one test batch, the text pass with the exact context and with upstream's 77
tokens, the logits), combined into the cost of a pass over ``--test-images`` images, each as a
multiple of the image pass alone: ours (text once per pass), ours with a feature-cache hit (no
image pass), and the upstream-equivalent loop (the text pass again for every batch).

``cache``: wall time of the real ``trainer.test()`` on a prepared data root (JPEG decoding
included), without the cache, with a cold cache (a fresh folder) and with a hit, in turns.

    python tools/bench_eval.py passes --classes 1000 --batch 100 --test-images 50000
    python tools/bench_eval.py cache --root $DATA --dataset imagenet --arch ViT-B/16
    python tools/bench_eval.py passes --tiny        # CPU smoke runs (tests use them)
    python tools/bench_eval.py cache --tiny
"""

import argparse
import contextlib
import io
import math
import os
import statistics
import tempfile
import time

from dassl_fallback import ensure_dassl  # noqa: E402
from launch.cli import HelpFormatter

ensure_dassl()

import torch  # noqa: E402
from tabulate import tabulate  # noqa: E402

from benchmarking import steps as benchmark  # noqa: E402
from dassl.config import get_cfg_default  # noqa: E402
from dassl.engine import build_trainer  # noqa: E402
from trainers.backbone import autocast_for  # noqa: E402
from trainers.config import extend_cfg  # noqa: E402
from trainers.yaml_config import merge_yaml_file  # noqa: E402


def interleaved_times(parts, device, steps, warmup):
    """{name: [seconds, ...]}: every part warms up, then the parts take turns, alternating order."""
    for _ in range(warmup):
        for part in parts.values():
            part()
    times = {name: [] for name in parts}
    names = list(parts)
    for round_index in range(steps):
        for name in names if round_index % 2 == 0 else names[::-1]:
            benchmark.synchronize(device)
            start = time.perf_counter()
            parts[name]()
            benchmark.synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


def pass_parts(instance, images):
    """The timed parts of an evaluation pass of CoOp (the trainers share this path)."""
    model = instance.model

    def text(full_context):
        model.text_encoder.exact_truncation = not full_context
        try:
            with torch.no_grad(), autocast_for(instance.prec, instance.device):
                return model.evaluation_text_features()
        finally:
            model.text_encoder.exact_truncation = True

    features = instance.encode_test_images(images)
    text_features = text(False)

    def logits():
        with torch.no_grad(), autocast_for(instance.prec, instance.device):
            return model.logits(features, text_features)

    return {"image batch": lambda: instance.encode_test_images(images),
            "text, exact context": lambda: text(False),
            "text, 77 tokens": lambda: text(True),
            "logits": logits}


def pass_costs(median, n_batches):
    """Seconds of one pass over ``n_batches`` test batches, per way of evaluating."""
    image, logits = median["image batch"], median["logits"]
    exact, full = median["text, exact context"], median["text, 77 tokens"]
    return {
        "image pass alone": n_batches * image,
        "ours: text once per pass": exact + n_batches * (image + logits),
        "ours + feature-cache hit (no image pass)": exact + n_batches * logits,
        "text per batch, exact context (item 1 off)": n_batches * (exact + image + logits),
        "upstream-equivalent: text per batch, 77 tokens": n_batches * (full + image + logits),
    }


def passes(args):
    device = benchmark.benchmark_device(args)
    cfg = benchmark.build_cfg("CoOp", args.arch, args.prec, 1, 0, "", device)
    cfg.freeze()
    instance = benchmark.offline_trainer("CoOp", cfg, benchmark.benchmark_classnames(args))
    size = cfg.INPUT.SIZE[0]
    images = torch.randn(args.batch, 3, size, size, device=instance.device)
    times = interleaved_times(pass_parts(instance, images), device, args.steps, args.warmup)
    median = {name: statistics.median(values) for name, values in times.items()}
    parts = [{"part": name, "ms": median[name] * 1000,
              "spread": benchmark.span([v * 1000 for v in values])}
             for name, values in times.items()]
    n_batches = math.ceil(args.test_images / args.batch)
    costs = pass_costs(median, n_batches)
    image = costs["image pass alone"]
    rows = [{"evaluation": name, "s per pass": seconds, "vs image pass alone": seconds / image}
            for name, seconds in costs.items()]
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(f"device: {name}; CLIP random:{args.arch}; CoOp, {args.classes} classes, test batch "
          f"{args.batch}, {benchmark.instance_prec(args.prec, device)}; median and min-max of "
          f"{args.steps} interleaved repetitions after {args.warmup} warm-up")
    print(tabulate(parts, headers="keys", floatfmt=".1f", tablefmt="github"))
    print(f"\nOne pass over {args.test_images} test images ({n_batches} batches):")
    print(tabulate(rows, headers="keys", floatfmt=".3f", tablefmt="github"))
    return rows


def cache_cfg(args, root, dataset):
    cfg = extend_cfg(get_cfg_default())
    merge_yaml_file(cfg, os.path.join("configs", "datasets", f"{dataset}.yaml"))
    merge_yaml_file(cfg, os.path.join("configs", "trainers", "CoOp", "vit_b16_ctxv1.yaml"))
    cfg.TRAINER.NAME = "CoOp"
    cfg.TRAINER.COOP.PREC = args.prec
    cfg.DATASET.ROOT = root
    cfg.DATASET.NUM_SHOTS = 1
    cfg.MODEL.BACKBONE.NAME = f"random:{args.arch}"
    cfg.DATALOADER.NUM_WORKERS = args.workers
    cfg.DATALOADER.TEST.BATCH_SIZE = args.batch
    cfg.USE_CUDA = benchmark.benchmark_device(args) == "cuda"
    cfg.SEED = 1
    if args.arch == "tiny":
        cfg.INPUT.SIZE = (32, 32)
    return cfg


def timed_test(trainer, cache_dir):
    """Seconds of one ``trainer.test()`` with TEST.FEATURE_CACHE ``cache_dir`` ('' = off)."""
    trainer.cfg.defrost()
    trainer.cfg.TEST.FEATURE_CACHE = cache_dir
    trainer.cfg.freeze()
    benchmark.synchronize(trainer.device.type)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        trainer.test()
    benchmark.synchronize(trainer.device.type)
    return time.perf_counter() - start


def cache(args):
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root
        if not root:  # a synthetic EuroSAT: 40 tiny images, or 500 of 256 px for a real tower
            from datasets.synthetic import write_synthetic_root

            root = os.path.join(tmp, "data")
            real = args.arch != "tiny"
            write_synthetic_root(root, datasets=["EuroSAT"], image_size=256 if real else 32,
                                 images_per_class=(16, 4, 50) if real else (16, 4, 4))
        with contextlib.redirect_stdout(io.StringIO()):
            trainer = build_trainer(cache_cfg(args, root, args.dataset))
        times = {"no cache": [], "cold cache": [], "cache hit": []}
        timed_test(trainer, "")  # warm-up: page cache, allocator, lazy init
        for index in range(args.steps):
            folder = os.path.join(tmp, f"cache{index}")
            times["no cache"].append(timed_test(trainer, ""))
            times["cold cache"].append(timed_test(trainer, folder))
            times["cache hit"].append(timed_test(trainer, folder))
        n_images = len(trainer.dm.dataset.test)
    base = statistics.median(times["no cache"])
    rows = [{"evaluation": name, "s": statistics.median(values),
             "spread": benchmark.span(values, 2),
             "vs no cache": statistics.median(values) / base} for name, values in times.items()]
    print(f"CoOp trainer.test() on {args.dataset}, {n_images} test images, CLIP random:"
          f"{args.arch}, test batch {args.batch}, {args.workers} workers; median and min-max of "
          f"{args.steps} rounds after 1 warm-up")
    print(tabulate(rows, headers="keys", floatfmt=".3f", tablefmt="github"))
    return rows


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("mode", choices=["passes", "cache"],
                        help="passes: the parts of a pass, timed; cache: trainer.test() with "
                             "and without the feature cache")
    parser.add_argument("--classes", type=int, default=1000, help="passes: classes evaluated")
    parser.add_argument("--batch", type=int, default=100, help="test batch size")
    parser.add_argument("--test-images", type=int, default=50000,
                        help="passes: test-set size (ImageNet's val: 50000)")
    parser.add_argument("--prec", default="bf16", choices=["fp16", "fp32", "amp", "bf16"],
                        help="precision of the passes (TRAINER.<node>.PREC)")
    parser.add_argument("--arch", default="ViT-B/16", help="random CLIP architecture")
    parser.add_argument("--steps", type=int, default=5, help="timed repetitions")
    parser.add_argument("--warmup", type=int, default=1, help="untimed repetitions first")
    parser.add_argument("--cpu", action="store_true", help="stay on the CPU")
    parser.add_argument("--root", default="", help="cache: a prepared data root")
    parser.add_argument("--dataset", default="eurosat", help="cache: dataset config stem")
    parser.add_argument("--workers", type=int, default=0, help="cache: loader workers")
    parser.add_argument("--tiny", action="store_true",
                        help="smoke run on the CPU: tiny CLIP, 10 classes, synthetic EuroSAT")
    return parser


def parse_args(argv):
    args = build_parser().parse_args(argv)
    if args.tiny:
        args.arch, args.classes, args.batch, args.cpu = "tiny", 10, 16, True
        args.test_images, args.steps, args.warmup = 64, min(args.steps, 2), 1
        args.root, args.dataset = "", "eurosat"
    return args


def main(argv=None):
    args = parse_args(argv)
    return {"passes": passes, "cache": cache}[args.mode](args)
