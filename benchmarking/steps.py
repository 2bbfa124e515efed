"""Time training steps of any trainer on synthetic batches, with no download and no dataset.

Each row builds the real trainer (its YAML, its model, its optimizer) on a random-weight CLIP
(``random:ViT-B/16`` by default) over ImageNet class names, then times ``forward_backward`` on
random images. ``--compare`` adds, per trainer, the upstream-equivalent reference of its
baseline (fp16 weights, full 77-token text context) and prints ratios against it, plus the
ratio of each SAR variant to its own baseline. Record GPU figures in docs/benchmarks.md.

    python tools/benchmark.py --trainers CoOp CoOp_SAR --classes 500 --novel 500 --compare
    python tools/benchmark.py --tiny --steps 2              # CPU smoke run (tests use it)
    python tools/benchmark.py pipeline --root $DATA --dataset imagenet --workers 0 4 8
    python tools/benchmark.py textenc --class-counts 100 500 1000   # FLOP rate vs matmul peak
    python tools/benchmark.py textenc --class-counts 1000 --n-ctx 16 4 --cpu \
        --paths shared per-class                   # TRAINER.SHARED_PREFIX on vs off

``--compile MODE`` adds a row per trainer with ``TRAINER.COMPILE.MODE`` set (torch.compile of
both towers), timed after at least 3 warm-up steps, which compile it. ``--text-checkpoint`` adds
a row per trainer with ``TRAINER.TEXT_CHECKPOINT`` on and its time and saved-bytes ratios;
``--per-class`` one with ``TRAINER.SHARED_PREFIX`` off (the per-class text path) and the ratios
of the shared-prefix row to it.

Fairness: every row is built and warmed up before any is timed, then the rows take turns, one
step each, in alternating order; the table gives the median and the min-max spread. Ratios of
rows from one run are what to quote on a shared machine. "saved MiB" is the memory autograd
keeps for backward (tensors saved by the forward, once per storage, frozen weights excluded),
counted on any device; "peak GiB" needs CUDA. A "-" means the figure does not apply.
"""

import argparse
import math
import os
import statistics
import tempfile
import time
from types import SimpleNamespace
from typing import NamedTuple

from dassl_fallback import ensure_dassl  # noqa: E402

ensure_dassl()

import torch  # noqa: E402
from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES  # noqa: E402
from tabulate import tabulate  # noqa: E402

import launch.registration  # noqa: E402,F401  (registers every trainer and dataset)
from dassl.config import get_cfg_default  # noqa: E402
from dassl.engine import TRAINER_REGISTRY  # noqa: E402
from launch.cli import HelpFormatter  # noqa: E402
from trainers.backbone import autocast_for  # noqa: E402
from trainers.config import extend_cfg  # noqa: E402
from trainers.yaml_config import merge_yaml_file  # noqa: E402

# The base-to-new config of each trainer (spec table); SAR variants use their own copy.
DEFAULT_CONFIGS = {
    "CoOp": "vit_b16_ctxv1",
    "CoCoOp": "vit_b16_c4_ep10_batch1_ctxv1",
    "KgCoOp": "vit_b16_ep100_ctxv1",
    "MaPLe": "vit_b16_c2_ep5_batch4_2ctx",
    "PromptSRC": "vit_b16_c2_ep20_batch4_4+4ctx",
    "CoOp_ATP": "vit_b16_ep10",
    "CoCoOp_ATP": "vit_b16_c4_ep10_batch1_ctxv1",
    "KgCoOp_ATP": "vit_b16_ep100_ctxv1",
    "MaPLe_ATP": "vit_b16_c2_ep5_batch4_2ctx",
    "PromptSRC_ATP": "vit_b16_c2_ep20_batch4_4+4ctx",
}


COMPILE_WARMUP = 3


class SavedBytes:
    """Bytes autograd keeps between forward and backward: every tensor saved for backward,
    counted once per storage (views and repeats share one), frozen weights left out (they are
    resident anyway). Counted on any device, so the CPU gives the GPU's activation memory."""

    def __init__(self, *modules):
        tensors = [t for m in modules for t in (*m.parameters(), *m.buffers())]
        self.excluded = {t.untyped_storage().data_ptr() for t in tensors}
        self.storages = {}

    def pack(self, tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in self.excluded:
            self.storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    def __enter__(self):
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self.pack, lambda tensor: tensor)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)

    @property
    def mib(self):
        return sum(self.storages.values()) / 2**20



def span(values, digits=1):
    """min-max as text, widened outward at the last digit, so the printed range
    always holds the median printed beside it (rounding 10.16 up to 10.2 did not)."""
    scale = 10 ** digits
    low = math.floor(min(values) * scale) / scale
    high = math.ceil(max(values) * scale) / scale
    return f"{low:.{digits}f}-{high:.{digits}f}"

def baseline_of(trainer):
    return trainer[: -len("_SAR")] if trainer.endswith("_SAR") else trainer


def build_cfg(trainer, arch, prec, batch, num_novel, bank_file, device, compile_mode="",
              compile_backend="inductor"):
    cfg = extend_cfg(get_cfg_default())
    config = os.path.join("configs", "trainers", trainer, DEFAULT_CONFIGS[baseline_of(trainer)])
    merge_yaml_file(cfg, config + ".yaml")
    node = TRAINER_REGISTRY.get(trainer).cfg_node
    cfg.TRAINER.NAME = trainer
    cfg.TRAINER[node].PREC = prec
    cfg.MODEL.BACKBONE.NAME = f"random:{arch}"
    cfg.DATASET.NAME = "ImageNet"
    if batch:  # 0: the config's own batch size
        cfg.DATALOADER.TRAIN_X.BATCH_SIZE = batch
    cfg.USE_CUDA = device == "cuda"
    cfg.SEED = 1
    cfg.VERBOSE = False
    if arch == "tiny":
        cfg.INPUT.SIZE = (32, 32)
    cfg.TRAINER.SAR.NUM_NOVEL = num_novel
    cfg.TRAINER.SAR.NOVEL_SOURCE = bank_file
    cfg.TRAINER.COMPILE.MODE = compile_mode
    cfg.TRAINER.COMPILE.BACKEND = compile_backend
    return cfg


def offline_trainer(trainer, cfg, classnames):
    """The registered trainer with its data stage replaced by class names only."""

    class Offline(TRAINER_REGISTRY.get(trainer)):
        def build_data_loader(self):
            dataset = SimpleNamespace(classnames=classnames, all_classnames=classnames,
                                      lab2cname=dict(enumerate(classnames)))
            self.dm = SimpleNamespace(dataset=dataset)
            self.train_loader_x = self.val_loader = self.test_loader = None
            self.train_loader_u = None
            self.num_classes = len(classnames)
            self.num_source_domains = 1
            self.lab2cname = dataset.lab2cname

    instance = Offline(cfg)
    if hasattr(instance, "build_sar"):
        instance.build_sar()
    instance.num_batches = 10**9  # never reach the per-epoch lr update
    return instance


class Row(NamedTuple):
    """One benchmarked setting of one trainer."""

    trainer: str
    prec: str
    full_context: bool = False  # the upstream-equivalent 77-token text pass
    compile_mode: str = ""
    text_checkpoint: bool = False
    shared_prefix: bool = True  # TRAINER.SHARED_PREFIX


def build_row(row, args, bank_file):
    """The row's trainer and synthetic batch, built before any row is timed."""
    device = benchmark_device(args)
    cfg = build_cfg(row.trainer, args.arch, row.prec, args.batch or 0, args.novel, bank_file,
                    device, row.compile_mode, args.compile_backend)
    cfg.TRAINER.TEXT_CHECKPOINT = row.text_checkpoint
    cfg.TRAINER.SHARED_PREFIX = row.shared_prefix and not row.full_context
    batch = args.batch or cfg.DATALOADER.TRAIN_X.BATCH_SIZE
    cfg.DATALOADER.TRAIN_X.BATCH_SIZE = batch
    cfg.freeze()
    before = allocated_bytes(device)
    instance = offline_trainer(row.trainer, cfg, benchmark_classnames(args))
    instance.model.text_encoder.exact_truncation = not row.full_context
    size = cfg.INPUT.SIZE[0]
    dev = instance.device
    data = {"img": torch.randn(batch, 3, size, size, device=dev),
            "label": torch.randint(0, instance.num_classes, (batch,), device=dev)}
    return SimpleNamespace(row=row, trainer=instance, data=data, batch=batch, times=[],
                           resident=allocated_bytes(device) - before, peak=0, saved=None)


def benchmark_device(args):
    return "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"


def instance_prec(prec, device):
    return prec if device == "cuda" else f"{prec}->fp32 (cpu)"


def benchmark_classnames(args):
    return list(IMAGENET_CLASSNAMES[: args.classes])


def allocated_bytes(device):
    return torch.cuda.memory_allocated() if device == "cuda" else 0


def run_step(built, index):
    built.trainer.batch_idx = index
    built.trainer.forward_backward(built.data)


def warm_up(built_rows, warmup):
    """Untimed steps, round-robin, so no row pays the process's own warm-up for the others;
    compiled rows get at least COMPILE_WARMUP (they compile, maybe twice, in their first)."""
    counts = [max(warmup, COMPILE_WARMUP) if b.row.compile_mode else warmup for b in built_rows]
    for index in range(max(counts, default=0)):
        for built, count in zip(built_rows, counts):
            if index < count:
                run_step(built, index)


def count_saved(built_rows):
    """One untimed step per row with saved-tensor hooks: the bytes kept for backward."""
    for built in built_rows:
        with SavedBytes(built.trainer.model) as saved:
            run_step(built, 0)
        built.saved = saved.mib


def time_interleaved(built_rows, device, steps):
    """``steps`` rounds, each timing one step of every row, in alternating order (A B, B A):
    load from other jobs and clock drift fall on every row alike."""
    for round_index in range(steps):
        order = built_rows if round_index % 2 == 0 else built_rows[::-1]
        for built in order:
            synchronize(device)
            before = allocated_bytes(device)
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            run_step(built, round_index)
            synchronize(device)
            built.times.append(time.perf_counter() - start)
            if device == "cuda":  # this row's own weights plus its step's transient peak
                step_peak = torch.cuda.max_memory_allocated() - before
                built.peak = max(built.peak, built.resident + step_peak)


def row_result(built, device):
    ms = [t * 1000 for t in built.times]
    median = statistics.median(ms)
    row = built.row
    return {"trainer": row.trainer, "prec": instance_prec(row.prec, device),
            "context": "77 (upstream)" if row.full_context else "exact",
            "compile": row.compile_mode or "-", "text ckpt": "on" if row.text_checkpoint else "-",
            "prefix": "shared" if built.trainer.model.shares_prefix() else "per-class",
            "batch": built.batch, "ms/step": median, "spread": span(ms),
            "images/s": built.batch / median * 1000,
            "peak GiB": built.peak / 2**30 if device == "cuda" else None,
            "saved MiB": built.saved}


def benchmark_rows(args):
    """The rows the command line asks for: ours, then compiled, checkpointed and reference."""
    rows = [Row(t, args.prec) for t in args.trainers]
    if args.compile:
        rows += [Row(t, args.prec, compile_mode=args.compile) for t in args.trainers]
    if args.text_checkpoint:
        rows += [Row(t, args.prec, text_checkpoint=True) for t in args.trainers]
    if args.per_class:
        rows += [Row(t, args.prec, shared_prefix=False) for t in args.trainers]
    if args.compare:
        rows += [Row(t, "fp16", full_context=True)
                 for t in dict.fromkeys(baseline_of(t) for t in args.trainers)]
    return rows


def write_bank(args, directory):
    """SAR's bank: the shipped ImageNet bank, or class names after the benchmarked ones."""
    if args.bank == "shipped":
        return "llm"
    path = os.path.join(directory, "bank.txt")
    bank = IMAGENET_CLASSNAMES[args.classes : args.classes + max(args.novel, 1)]
    if len(bank) < max(args.novel, 1):
        bank = [f"novel thing {i}" for i in range(max(args.novel, 1))]
    with open(path, "w") as f:
        f.write("\n".join(bank))
    return path


def benchmark(args):
    device = benchmark_device(args)
    with tempfile.TemporaryDirectory() as tmp:
        bank_file = write_bank(args, tmp)
        built_rows = [build_row(row, args, bank_file) for row in benchmark_rows(args)]
    warm_up(built_rows, args.warmup)
    count_saved(built_rows)
    time_interleaved(built_rows, device, args.steps)
    rows = [row_result(built, device) for built in built_rows]
    del built_rows
    add_ratios(rows)
    print_table(device, f"{args.classes} base classes, {args.novel} novel per step (SAR, bank: "
                f"{args.bank}); median and min-max of {args.steps} interleaved steps after "
                f"{args.warmup} warm-up", rows, ".2f", args.arch)
    return rows


def print_table(device, what, rows, floatfmt, arch):
    """The header line every table of this module starts with, then the table."""
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(f"device: {name}; CLIP random:{arch}; {what}")
    print(tabulate(rows, headers="keys", floatfmt=floatfmt, tablefmt="github", missingval="-"))


def ratio(row, other, key):
    if other is None or row[key] is None or not other[key]:
        return None
    return row[key] / other[key]


def add_ratios(rows):
    """Ratios against the upstream-equivalent reference, of SAR against its baseline, and of
    text checkpointing against the same row without it; None (printed "-") where none applies."""
    reference = {r["trainer"]: r for r in rows if r["context"].startswith("77")}
    ours = {(r["trainer"], r["compile"], r["text ckpt"], r["prefix"]): r for r in rows
            if not r["context"].startswith("77")}
    for row in rows:
        ref = reference.get(baseline_of(row["trainer"]))
        row["vs upstream"] = ratio(row, ref, "ms/step")
        sar = row["trainer"].endswith("_SAR") and not row["context"].startswith("77")
        key = (row["trainer"], row["compile"], row["text ckpt"], row["prefix"])
        base = ours.get((baseline_of(row["trainer"]), *key[1:])) if sar else None
        row["SAR/base time"] = ratio(row, base, "ms/step")
        row["SAR/base mem"] = ratio(row, base, "peak GiB")
        row["SAR/base saved"] = ratio(row, base, "saved MiB")
        checkpointed = row["text ckpt"] == "on"
        plain = ours.get((*key[:2], "-", key[3])) if checkpointed else None
        row["ckpt/plain time"] = ratio(row, plain, "ms/step")
        row["ckpt/plain saved"] = ratio(row, plain, "saved MiB")
        shared = row["prefix"] == "shared" and not row["context"].startswith("77")
        per_class = ours.get((*key[:3], "per-class")) if shared else None
        row["shared/per-class time"] = ratio(row, per_class, "ms/step")
        row["shared/per-class saved"] = ratio(row, per_class, "saved MiB")


def matmul_rate(device, dtype, size, repeats=10):
    """Achieved TFLOP/s of a square matmul: the device's practical peak for this dtype."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e12


def synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()


TEXT_PATHS = {  # textenc: name -> (TRAINER.SHARED_PREFIX, exact truncation)
    "shared": (True, True),  # the shared prefix once, suffixes by length bucket
    "per-class": (False, True),  # every class's whole prompt, up to the longest EOS
    "full-77": (False, False),  # upstream's 77 positions per class
}


def text_encoder_rate(args):
    """Forward + backward of CoOp's text path over N classes, per path (``TEXT_PATHS``): ms,
    autograd's saved MiB, TFLOP/s and share of the matmul peak, and the time and saved-bytes
    ratios against the per-class path of the same class count and N_CTX.

    One untimed pass per row counts FLOPs (``torch.utils.flop_counter``; the frozen weights get
    no gradient, so the backward is about one forward) and saved bytes, and warms up; then the
    rows of one setting take turns, one pass each, in alternating order.
    """
    device = benchmark_device(args)
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "amp": torch.float16}
    dtype = dtypes.get(args.prec, torch.float32) if device == "cuda" else torch.float32
    peak = matmul_rate(device, dtype, 8192 if device == "cuda" else 512)
    rows = []
    for classes in args.class_counts:
        for n_ctx in args.n_ctx:
            costs = args.bucket_overhead or [None]  # None: the device's default
            paths = [text_path(args, device, classes, n_ctx, path, overhead)
                     for path in args.paths
                     for overhead in (costs if path == "shared" else [None])]
            time_text_paths(paths, device, args.steps)
            rows += [text_row(path, classes, n_ctx, peak, paths) for path in paths]
    print_table(device, f"CoOp text path, forward + backward, {instance_prec(args.prec, device)}; "
                f"{torch.get_num_threads()} CPU threads; matmul peak measured with {dtype}; "
                f"median of {args.steps} interleaved passes", rows, ".3g", args.arch)
    return rows


def text_path(args, device, classes, n_ctx, path, overhead=None):
    """CoOp over ``classes`` ImageNet names with a random context of ``n_ctx`` tokens, its text
    pass set up as ``path`` (``overhead``: the shared path's bucketing cost, plan_buckets); one
    counting pass (FLOPs, saved bytes) that also warms it up."""
    from torch.utils.flop_counter import FlopCounterMode

    cfg = build_cfg("CoOp", args.arch, args.prec, 1, 0, "", device)
    cfg.TRAINER.COOP.CTX_INIT = ""
    cfg.TRAINER.COOP.N_CTX = n_ctx
    cfg.TRAINER.SHARED_PREFIX = TEXT_PATHS[path][0]
    cfg.freeze()
    instance = offline_trainer("CoOp", cfg, list(IMAGENET_CLASSNAMES[:classes]))
    model = instance.model
    model.text_encoder.exact_truncation = TEXT_PATHS[path][1]
    model.text_encoder.bucket_overhead = overhead
    tokens = model.class_tokens()
    buckets = len(model.text_encoder.split(tokens).shapes) if model.shares_prefix() else None

    def step(_index=0):
        with autocast_for(instance.prec, instance.device):
            features = model.encode_text(tokens)
        features.float().sum().backward()

    with FlopCounterMode(display=False) as counter, SavedBytes(model) as saved:
        step()
    return SimpleNamespace(path=path, step=step, flops=counter.get_total_flops(),
                           saved=saved.mib, times=[], buckets=buckets, overhead=overhead,
                           context=model.text_encoder.context_length(tokens.max_len))


def time_text_paths(paths, device, steps):
    for round_index in range(steps):
        for path in paths if round_index % 2 == 0 else paths[::-1]:
            synchronize(device)
            start = time.perf_counter()
            path.step()
            synchronize(device)
            path.times.append(time.perf_counter() - start)


def text_row(path, classes, n_ctx, peak, paths):
    seconds = statistics.median(path.times)
    rate = path.flops / seconds / 1e12
    per_class = next((p for p in paths if p.path == "per-class"), None)
    reference = statistics.median(per_class.times) if per_class else None
    return {"classes": classes, "N_CTX": n_ctx, "path": path.path,
            "bucket cost": (("default" if path.overhead is None else path.overhead)
                            if path.path == "shared" else None),
            "buckets": path.buckets, "tokens": path.context,
            "ms": seconds * 1000, "spread": span([t * 1000 for t in path.times], 0),
            "saved MiB": path.saved,
            "GFLOP": path.flops / 1e9, "TFLOP/s": rate, "matmul TFLOP/s": peak,
            "of peak": rate / peak,
            "time vs per-class": seconds / reference if reference else None,
            "saved vs per-class": path.saved / per_class.saved if per_class else None}


def pipeline(args):
    """Images/s of the training input pipeline alone (decode + augment + collate + transfer)."""
    from dassl.data import DataManager

    rows = []
    for workers in args.workers:
        cfg = extend_cfg(get_cfg_default())
        merge_yaml_file(cfg, os.path.join("configs", "datasets", f"{args.dataset}.yaml"))
        merge_yaml_file(cfg, os.path.join("configs", "trainers", "CoOp", "vit_b16_ctxv1.yaml"))
        cfg.DATASET.ROOT = args.root
        cfg.DATASET.NUM_SHOTS = args.shots
        cfg.DATALOADER.NUM_WORKERS = workers
        cfg.DATALOADER.TRAIN_X.BATCH_SIZE = args.batch or 32
        cfg.INPUT.SIZE = (args.image_size, args.image_size)
        cfg.SEED = 1
        cfg.USE_CUDA = torch.cuda.is_available()
        dm = DataManager(cfg)
        device = torch.device("cuda" if cfg.USE_CUDA else "cpu")
        seen, start = 0, None
        for epoch in range(args.epochs):
            for batch in dm.train_loader_x:
                batch["img"].to(device, non_blocking=True)
                seen += batch["img"].shape[0] if start else 0
                start = start or time.perf_counter()
            del epoch
        elapsed = time.perf_counter() - start
        rows.append({"workers": workers, "images": seen, "seconds": elapsed,
                     "images/s": seen / elapsed if elapsed else float("nan")})
    print(tabulate(rows, headers="keys", floatfmt=".1f", tablefmt="github"))
    return rows


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("mode", nargs="?", default="steps",
                        choices=["steps", "pipeline", "textenc"],
                        help="steps: training-step time per trainer; pipeline: the data "
                             "loader's images/s; textenc: the text tower's FLOP rate "
                             "(default: steps)")
    parser.add_argument("--trainers", nargs="+", default=["CoOp", "CoOp_SAR"],
                        help="registered trainer names to time")
    parser.add_argument("--classes", type=int, default=500, help="classes of every row")
    parser.add_argument("--novel", type=int, default=500, help="SAR's NUM_NOVEL")
    parser.add_argument("--batch", type=int, default=0, help="0 = the config's batch size")
    parser.add_argument("--prec", default="bf16", choices=["fp16", "fp32", "amp", "bf16"],
                        help="TRAINER.<node>.PREC of our rows")
    parser.add_argument("--arch", default="ViT-B/16", help="random CLIP architecture")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per row")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per row first")
    parser.add_argument("--compare", action="store_true",
                        help="add each baseline's upstream-equivalent reference row and ratios")
    parser.add_argument("--cpu", action="store_true", help="stay on the CPU")
    parser.add_argument("--compile", default="", help="also time our rows with this "
                        "TRAINER.COMPILE.MODE (default, reduce-overhead, max-autotune)")
    parser.add_argument("--compile-backend", default="inductor",
                        help="TRAINER.COMPILE.BACKEND of the --compile rows")
    parser.add_argument("--text-checkpoint", action="store_true",
                        help="also time our rows with TRAINER.TEXT_CHECKPOINT True")
    parser.add_argument("--bank", default="names", choices=["names", "shipped"],
                        help="SAR's bank: ImageNet names after the benchmarked ones, or the "
                        "shipped ImageNet bank (datasets/novel_classes/ImageNet.json)")
    parser.add_argument("--class-counts", nargs="+", type=int, default=[100, 500, 1000],
                        help="textenc: class counts")
    parser.add_argument("--n-ctx", nargs="+", type=int, default=[16, 4],
                        help="textenc: context lengths (a random context of N_CTX tokens)")
    parser.add_argument("--paths", nargs="+", default=list(TEXT_PATHS), choices=list(TEXT_PATHS),
                        help="textenc: text paths to time")
    parser.add_argument("--bucket-overhead", nargs="+", type=float, default=None,
                        help="textenc: shared rows, one per bucketing cost (padded positions "
                        "one more length bucket is worth; inf = a single bucket); default: the "
                        "device's (trainers/shared_prefix.py)")
    parser.add_argument("--per-class", action="store_true",
                        help="also time our rows with TRAINER.SHARED_PREFIX False")
    parser.add_argument("--tiny", action="store_true",
                        help="smoke run: tiny CLIP, 10 classes, batch 2, on the CPU")
    parser.add_argument("--root", default="", help="pipeline: data root")
    parser.add_argument("--dataset", default="imagenet", help="pipeline: dataset config stem")
    parser.add_argument("--workers", nargs="+", type=int, default=[0, 4, 8],
                        help="pipeline: DATALOADER.NUM_WORKERS values to time")
    parser.add_argument("--shots", type=int, default=16, help="pipeline: DATASET.NUM_SHOTS")
    parser.add_argument("--epochs", type=int, default=2, help="pipeline: epochs read per row")
    parser.add_argument("--image-size", type=int, default=224,
                        help="pipeline: INPUT.SIZE side in pixels")
    return parser


def parse_args(argv):
    args = build_parser().parse_args(argv)
    if args.tiny:
        args.arch, args.classes, args.novel, args.batch, args.cpu = "tiny", 10, 6, 2, True
        args.class_counts, args.n_ctx = [10], [4]
        args.warmup = min(args.warmup, 1)
    return args


def main(argv=None):
    args = parse_args(argv)
    modes = {"steps": benchmark, "pipeline": pipeline, "textenc": text_encoder_rate}
    return modes[args.mode](args)
