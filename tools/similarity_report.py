"""Show how a trained run's prompts bend CLIP's class-similarity structure (SAR's motivation).

    python tools/similarity_report.py RUN_DIR [RUN_DIR ...] -o report.png
        [--root DATA] [--backbone CLIP] [--novel-source SRC] [--load-epoch N]
        [--max-classes 60] [--seed 0] [--images 8]

For each training output folder: the config the run printed into its log, its backbone and its
checkpoint rebuild the trained model; the text features of the hand-crafted prompt and of the
learned prompts are computed for three class groups, the base classes, the new ones and the
novel-class bank. Writes ``report.png`` (hand-crafted, learned and learned - hand-crafted
similarity heatmaps, one row per run), and ``report.md`` / ``report.csv`` with, per run and
group, the drift measures of trainers/similarity_metrics.py and the run's base / new accuracy
(base from its log, new from the matching ``test_new`` folder when one exists).
"""

import argparse
import contextlib
import csv
import io
import math
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

import launch.registration  # noqa: E402,F401  (registers every trainer and dataset)
from dassl.config import get_cfg_default  # noqa: E402
from dassl.engine import build_trainer  # noqa: E402
from parse_test_res import newest_log, read_value, render_rows  # noqa: E402
from plotting import figures as plotting  # noqa: E402
from trainers.backbone import autocast_for  # noqa: E402
from trainers.config import all_keys, extend_cfg  # noqa: E402
from trainers.novel_bank import load_novel_bank  # noqa: E402
from trainers.prompts import hand_crafted_texts  # noqa: E402
from trainers.sar import resolve_temperature
from trainers.similarity_metrics import METRICS, drift_metrics, similarities  # noqa: E402
from trainers.text_encoder import hand_crafted_features  # noqa: E402

GROUPS = ("base", "new", "novel")
CONFIG_HEADER = "** Config **"
CONFIG_LINE = re.compile(r"^( *)([A-Z0-9_]+):(?: (.*))?$")
CHECKPOINT = re.compile(r"^model\.pth\.tar-(\d+)$")


class ReportError(Exception):
    """Bad input the user can fix; printed as one line."""


# ---- the run's config ----------------------------------------------------------------------


def config_leaves(log_path):
    """(KEY.PATH, value text) of the config block train.py (and Dassl) print into the log.

    yacs prints one ``KEY: value`` per line, nested by indentation, after ``** Config **`` and
    a line of stars; the block ends at the first line of another shape.
    """
    with open(log_path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    if CONFIG_HEADER not in lines:
        raise ReportError(f"{log_path}: no '{CONFIG_HEADER}' block (not a train.py log?)")
    stack = []  # (indent, node name) of the enclosing nodes
    for line in lines[lines.index(CONFIG_HEADER) + 2:]:
        match = CONFIG_LINE.match(line)
        if not match:
            return
        indent, name, value = len(match.group(1)), match.group(2), match.group(3)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if value is None:
            stack.append((indent, name))
        else:
            yield ".".join([n for _, n in stack] + [name]), value


def run_config(run_dir, args):
    """The run's config: our defaults, then every logged key we know (others, e.g. from an
    upstream Dassl run, are skipped), then the command line's overrides."""
    log = newest_log(run_dir)
    if log is None:
        raise ReportError(f"no log.txt in {run_dir} (a training output folder is expected)")
    cfg = extend_cfg(get_cfg_default())
    known = set(all_keys(cfg))
    for key, text in config_leaves(log):
        if key not in known:
            continue
        try:
            cfg.merge_from_list([key, text])
        except (ValueError, AssertionError, KeyError) as error:
            raise ReportError(f"{log}: config key {key} = {text!r}: {error}") from None
    if args.root:
        cfg.DATASET.ROOT = args.root
    if args.backbone:
        cfg.MODEL.BACKBONE.NAME = args.backbone
    if args.novel_source:
        cfg.TRAINER.SAR.NOVEL_SOURCE = args.novel_source
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.OUTPUT_DIR = run_dir
    cfg.freeze()
    return cfg


# ---- the trained model ---------------------------------------------------------------------


def checkpoint_epoch(run_dir, model_name, wanted=None):
    """The epoch to load: ``wanted``, else the newest ``model.pth.tar-N`` of the run."""
    if wanted is not None:
        return wanted
    folder = os.path.join(run_dir, model_name)
    files = os.listdir(folder) if os.path.isdir(folder) else []
    epochs = [int(m.group(1)) for m in map(CHECKPOINT.match, files) if m]
    if not epochs:
        raise ReportError(f"no checkpoint model.pth.tar-<epoch> in {folder}")
    return max(epochs)


def load_trained(run_dir, args):
    """(cfg, trainer) with the run's checkpoint loaded; the trainer's chatter is swallowed."""
    cfg = run_config(run_dir, args)
    with contextlib.redirect_stdout(io.StringIO()):
        trainer = build_trainer(cfg)
        names = trainer.get_model_names()
        if not names:
            raise ReportError(f"{run_dir}: {cfg.TRAINER.NAME} has no learned prompts to report")
        trainer.load_model(run_dir, epoch=checkpoint_epoch(run_dir, names[0], args.load_epoch))
    trainer.set_model_mode("eval")
    return cfg, trainer


def class_groups(trainer, cfg):
    """Base and new classes (upstream's split: the first ceil(n/2) labels are base) and the
    novel bank the run's NOVEL_SOURCE names. A run on all classes has no new group."""
    dataset = trainer.dm.dataset
    all_names = list(getattr(dataset, "all_classnames", None) or dataset.classnames)
    m = math.ceil(len(all_names) / 2)
    split = cfg.DATASET.SUBSAMPLE_CLASSES in ("base", "new")
    base, new = (all_names[:m], all_names[m:]) if split else (all_names, [])
    bank = load_novel_bank(cfg.TRAINER.SAR.NOVEL_SOURCE, cfg.DATASET.NAME, all_names,
                           seed=max(cfg.SEED, 0), logger=lambda _message: None)
    return {"base": base, "new": new, "novel": bank}


def conditioning_images(trainer, count):
    """Image features for per-image prompts (CoCoOp): the first ``count`` test images."""
    batch = next(iter(trainer.test_loader))
    image = batch["img"][:count].to(trainer.device)
    return trainer.model.encode_image(image)


@torch.no_grad()
def text_features(trainer, cfg, names, n_images):
    """(G, H): learned features of ``names`` through the run's own text path, (n, D) or
    (B, n, D) for per-image prompts, and the hand-crafted ones SAR compares them with."""
    model = trainer.model
    learner = getattr(model, trainer.learnable_module)
    tokens = learner.with_lead(learner.build_class_tokens(model.text_encoder, names))
    with autocast_for(trainer.prec, trainer.device):
        images = conditioning_images(trainer, n_images) if hasattr(learner, "meta_net") else None
        G = model.encode_text(tokens.to(trainer.device), images).float()
    texts = hand_crafted_texts(names, cfg.DATASET.NAME, cfg.TRAINER.SAR.TEMPLATE)
    return G, hand_crafted_features(model.text_encoder, texts).to(G.device)


# ---- one run -------------------------------------------------------------------------------


def run_accuracies(run_dir):
    """Base accuracy from the run's own log; new from the matching test_new folder, if any."""
    log = newest_log(run_dir)
    base = read_value(log, mode="auto") if log else None
    parts = os.path.normpath(os.path.abspath(run_dir)).split(os.sep)
    new = None
    if "train_base" in parts:
        parts[parts.index("train_base")] = "test_new"
        new_log = newest_log(os.sep.join(parts))
        new = read_value(new_log, mode="test") if new_log else None
    return base, new


def analyse_run(run_dir, args):
    """Metrics per group and the (subsampled) matrices for the heatmap of one run."""
    cfg, trainer = load_trained(run_dir, args)
    groups = class_groups(trainer, cfg)
    names = [n for g in GROUPS for n in groups[g]]
    G, H = text_features(trainer, cfg, names, args.images)
    tau = resolve_temperature(cfg.TRAINER.SAR.TEMPERATURE, trainer.model.logit_scale.exp().item())
    base_acc, new_acc = run_accuracies(run_dir)
    rows, start = [], 0
    for group in GROUPS:
        count = len(groups[group])
        if count >= 2:
            part = slice(start, start + count)
            metrics = drift_metrics(G[..., part, :], H[part], tau)
            rows.append({"group": group, "classes": count, **metrics, "tau": tau,
                         "base_acc": base_acc, "new_acc": new_acc})
        start += count
    sizes = [len(groups[g]) for g in GROUPS]
    keep = subsample(len(names), args.max_classes, args.seed)
    S_g = similarities(G).reshape(-1, len(names), len(names)).mean(0)[keep][:, keep]
    S_h = similarities(H)[keep][:, keep]
    return {"dir": run_dir, "trainer": cfg.TRAINER.NAME, "seed": cfg.SEED, "rows": rows,
            "names": [names[i] for i in keep], "groups": kept_groups(sizes, keep),
            "S_h": S_h.cpu().numpy(), "S_g": S_g.cpu().numpy(), "n_classes": len(names)}


def kept_groups(sizes, keep):
    """(group name, classes shown) of the non-empty groups, after the subsample ``keep``."""
    groups, start = [], 0
    for group, size in zip(GROUPS, sizes):
        shown = sum(1 for i in keep if start <= i < start + size)
        if shown:
            groups.append((group, shown))
        start += size
    return groups


def subsample(n, limit, seed):
    """All indices up to ``limit`` classes; beyond that a seeded random ``limit`` of them, in
    order, so the heatmap stays readable and the same classes show in every run's row."""
    if n <= limit:
        return list(range(n))
    return sorted(random.Random(seed).sample(range(n), limit))


# ---- outputs -------------------------------------------------------------------------------


def run_labels(runs):
    """'TRAINER seedN'; when two runs would share it, the shortest distinguishing tails of
    their folders instead ('untrained/seed1' and 'trained/seed1')."""
    labels = [f"{r['trainer']} seed{r['seed']}" for r in runs]
    if len(set(labels)) == len(labels):
        return labels
    parts = [os.path.normpath(os.path.abspath(r["dir"])).split(os.sep) for r in runs]
    for k in range(1, max(map(len, parts)) + 1):
        labels = ["/".join(p[-k:]) for p in parts]
        if len(set(labels)) == len(labels):
            break
    return labels


def table_records(runs):
    records = []
    for label, run in zip(run_labels(runs), runs):
        for row in run["rows"]:
            records.append({"run": label, "trainer": run["trainer"], **{
                k: _cell(v) for k, v in row.items()}})
    return records


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def write_tables(records, png_path):
    """report.md and report.csv beside the PNG; returns the markdown."""
    stem = os.path.splitext(png_path)[0]
    headers = ["run", "trainer", "group", "classes", *METRICS, "tau", "base_acc", "new_acc"]
    markdown = render_rows([[r[h] for h in headers] for r in records], headers, "markdown")
    with open(stem + ".md", "w", encoding="utf-8") as f:
        f.write(markdown + "\n")
    with open(stem + ".csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=headers, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    return markdown


def draw_heatmaps(runs, path, seed):
    rows = [(label, r["S_h"], r["S_g"]) for label, r in zip(run_labels(runs), runs)]
    first = runs[0]
    if any(r["names"] != first["names"] for r in runs):
        raise ReportError("the runs have different class lists (dataset or bank): one heatmap "
                          "needs the same classes; pass --novel-source to share a bank")
    shown = len(first["names"])
    scope = (f"all {shown} classes" if shown == first["n_classes"] else
             f"{shown} of {first['n_classes']} classes, a random subsample (seed {seed})")
    title = f"Cosine similarities of class text features: {scope}"
    return plotting.heatmap_grid(rows, first["names"], first["groups"], title, path)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="training output folders")
    parser.add_argument("-o", "--output", default="similarity.png",
                        help="heatmap PNG; the tables go beside it as .md and .csv "
                             "(default: similarity.png in the current folder)")
    parser.add_argument("--root", help="data root, if not the one the run used")
    parser.add_argument("--backbone", help="CLIP checkpoint, if not the one the run used")
    parser.add_argument("--novel-source", help="novel bank for every run (default: each run's)")
    parser.add_argument("--load-epoch", type=int, help="checkpoint epoch (default: the newest)")
    parser.add_argument("--max-classes", type=int, default=60, help="heatmap classes at most")
    parser.add_argument("--seed", type=int, default=0, help="seed of the heatmap subsample")
    parser.add_argument("--images", type=int, default=8,
                        help="test images conditioning per-image prompts (CoCoOp)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        runs = [analyse_run(run_dir, args) for run_dir in args.run_dirs]
        size = draw_heatmaps(runs, args.output, args.seed)
        print(write_tables(table_records(runs), args.output))
    except (ReportError, ImportError, OSError, ValueError, KeyError, RuntimeError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        print(f"error: {message}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({size[0]}x{size[1]} px) and its .md / .csv tables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
