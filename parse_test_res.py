#!/usr/bin/env python3
"""Read the accuracies out of CoOp-style output folders.

Three modes, all reading the newest log file of each run folder (``log.txt``, or the latest
``log.txt-<time>`` a re-run wrote):

``DIR``
    DIR holds one folder per seed. Prints each seed's result and the mean ± std (population std,
    as numpy computes it) or, with ``--ci95``, ± 1.96·std/√n. A training log counts only the
    ``* accuracy: X%`` printed after the end-of-training line ("Finish training", or "Finished
    training" in older Dassl); ``--test-log`` takes the last such line anywhere, for the logs of
    ``--eval-only`` runs.
``DIR --multi-exp``
    DIR holds several experiment folders (e.g. one per dataset), each holding seed folders;
    prints one summary per experiment and a closing table.
``ROOT --base2new``
    ROOT is the base-to-new output root (``output/base2new``). Prints the paper table: per
    dataset and method, base accuracy (from ``train_base``, after the end of training), new
    accuracy (from ``test_new``) and their harmonic mean, plus the Average row (the mean base
    and mean new over datasets, and the HM of those two means, as the papers compute it).
    Missing seeds, sides or datasets are marked and listed, never silently averaged.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import re
import statistics
import sys
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

END_LINE = re.compile(r"Finish(?:ed)? training")
# Dassl's progress lines ("epoch [3/200] batch [20/40] ..."): a log with them is a training log.
TRAIN_PROGRESS = re.compile(r"\bepoch \[\d+/\d+\]")
NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
END_WORDING = "'Finish training' (or 'Finished training')"

# Config folder name -> paper name, in the papers' row order.
PAPER_DATASETS = {
    "imagenet": "ImageNet",
    "caltech101": "Caltech101",
    "oxford_pets": "OxfordPets",
    "stanford_cars": "StanfordCars",
    "oxford_flowers": "Flowers102",
    "food101": "Food101",
    "fgvc_aircraft": "FGVCAircraft",
    "sun397": "SUN397",
    "dtd": "DTD",
    "eurosat": "EuroSAT",
    "ucf101": "UCF101",
}
# Column order when --methods is not given: each baseline, its SAR variant, its ATPrompt variant
# and the two stacked.
TRAINER_ORDER = ["ZeroshotCLIP"] + [
    f"{base}{variant}"
    for base in ("CoOp", "CoCoOp", "KgCoOp", "MaPLe", "PromptSRC")
    for variant in ("", "_SAR", "_ATP", "_ATP_SAR")
]
MISSING = "—"
# Test-only ImageNet variants (xd/dg targets): folder name -> registered name.
VARIANT_DATASETS = {
    "imagenetv2": "ImageNetV2",
    "imagenet_sketch": "ImageNetSketch",
    "imagenet_a": "ImageNetA",
    "imagenet_r": "ImageNetR",
}
# Registered names that differ from the table's row label.
REGISTERED_NAMES = {"oxford_flowers": "OxfordFlowers", "dtd": "DescribableTextures"}
SEED_DIR = re.compile(r"seed(\d+)")
# train.py's "** Arguments **" block (upstream's prints the same): what a run says it ran.
IDENTITY_ARGS = {"trainer": "trainer", "config_file": "config", "dataset_config_file": "dataset"}
ARGUMENT_LINE = re.compile(r"(trainer|config_file|dataset_config_file): (.+)")
CONFIG_BLOCK = "** Config **"


class NothingFound(Exception):
    """No result at all where one was expected; the message says where and what."""


class BadInput(Exception):
    """An argument or a log the parser refuses; the message names the value or the file."""


def natural_key(name: str) -> list:
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


def subdirs(path: str) -> list[str]:
    names = [n for n in os.listdir(path) if not n.startswith(".")]
    return sorted((n for n in names if os.path.isdir(os.path.join(path, n))), key=natural_key)


def newest_log(run_dir: str) -> str | None:
    """The log a run folder's result comes from: the latest ``log.txt-<time>`` (the timestamp
    sorts chronologically), else ``log.txt``."""
    if not os.path.isdir(run_dir):
        return None
    reruns = sorted(n for n in os.listdir(run_dir) if n.startswith("log.txt-"))
    for name in reversed(reruns):
        if os.path.isfile(os.path.join(run_dir, name)):
            return os.path.join(run_dir, name)
    path = os.path.join(run_dir, "log.txt")
    return path if os.path.isfile(path) else None


def result_pattern(keyword: str) -> re.Pattern:
    return re.compile(r"\*\s*" + re.escape(keyword) + r":\s*" + NUMBER + r"\s*%?")


def read_value(path: str, keyword: str = "accuracy", mode: str = "train") -> float | None:
    """The result in one log file.

    mode ``train``: the last ``* <keyword>:`` value after the last end-of-training line;
    ``test``: the last value anywhere; ``auto``: ``test`` for an evaluation-only log (no end
    line and no training progress lines), else ``train``.
    """
    pattern = result_pattern(keyword)
    last_any = last_after_end = None
    ended = progress = False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if END_LINE.search(line):
                ended = True
                last_after_end = None
                continue
            if TRAIN_PROGRESS.search(line):
                progress = True
            match = pattern.search(line)
            if match:
                last_any = float(match.group(1))
                if not math.isfinite(last_any):
                    value = match.group(1)
                    raise BadInput(f"{path}: '* {keyword}: {value}' is not a finite number")
                if ended:
                    last_after_end = last_any
    if mode == "test" or (mode == "auto" and not ended and not progress):
        return last_any
    return last_after_end


def expected_line(keyword: str, mode: str) -> str:
    line = f"a line '* {keyword}: <number>%'"
    if mode == "train":
        line += f" after {END_WORDING}"
    elif mode == "auto":
        line += f" (after {END_WORDING} for a training run)"
    return line


def read_identity(path: str) -> dict[str, str]:
    """{"trainer", "config", "dataset": value} as the log's argument block names them (the
    YAML files by their stem, so the same config in another clone compares equal); a log
    without the block gives {}."""
    found = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(CONFIG_BLOCK):
                break
            match = ARGUMENT_LINE.fullmatch(line.strip())
            if match:
                value = match.group(2).strip()
                if match.group(1) != "trainer":
                    value = os.path.splitext(os.path.basename(value))[0]
                found[IDENTITY_ARGS[match.group(1)]] = value
    return found


def check_one_method(runs: list) -> None:
    """Refuse to pool runs whose logs name different trainers, configs or datasets: a mean
    over CoOp's seed 1 and CoCoOp's seed 2 is a number about nothing."""
    first: dict[str, Run] = {}
    for run in runs:
        for what, value in run.identity.items():
            other = first.setdefault(what, run)
            if other.identity[what] != value:
                raise BadInput(
                    f"will not pool runs of different {what}s: {other.log} ran {what} "
                    f"{other.identity[what]}, {run.log} ran {value}; keep each in its own folder"
                )


@dataclass
class Run:
    """One run folder and what its newest log says."""

    name: str
    path: str
    log: str | None
    value: float | None
    identity: dict = field(default_factory=dict)

    @property
    def seed(self) -> int | None:
        match = SEED_DIR.fullmatch(self.name)
        return int(match.group(1)) if match else None

    def problem(self, keyword: str, mode: str) -> str:
        if self.log is None:
            return f"no log.txt in {self.path}"
        return f"no {expected_line(keyword, mode)} in {self.log}"


def read_run(run_dir: str, keyword: str, mode: str) -> Run:
    log = newest_log(run_dir)
    value = read_value(log, keyword, mode) if log else None
    identity = read_identity(log) if log else {}
    return Run(os.path.basename(os.path.normpath(run_dir)), run_dir, log, value, identity)


def mean_spread(values: list[float], ci95: bool) -> tuple[float, float]:
    """Mean and population std (numpy's default), or the 95% CI half-width 1.96·std/√n."""
    mean = statistics.fmean(values)
    std = statistics.pstdev(values) if len(values) > 1 else 0.0
    return mean, (1.96 * std / math.sqrt(len(values)) if ci95 else std)


def harmonic_mean(base: float, new: float) -> float:
    return 0.0 if base + new == 0 else 2 * base * new / (base + new)


def fmt(x: float | None, decimals: int) -> str:
    return "" if x is None else f"{x:.{decimals}f}"


def split_list(items: list[str] | None, sep: str = r"[,\s]+") -> list[str]:
    out: list[str] = []
    for item in items or []:
        out.extend(tok for tok in re.split(sep, item) if tok.strip())
    return [tok.strip() for tok in out]


# --- DIR and DIR --multi-exp ---------------------------------------------------------------


def seed_dirs(directory: str) -> tuple[list[str], list[str]]:
    """The ``seed<N>`` folders of ``directory`` and the other folders in it: only the former are
    seeds, so a ``notes/`` or ``old/`` folder beside them never enters a mean."""
    names = subdirs(directory)
    seeds = [n for n in names if SEED_DIR.fullmatch(n)]
    return seeds, [n for n in names if n not in seeds]


def summarize_dir(directory: str, args, out) -> tuple[list[float], list[Run]]:
    """Prints the per-seed results and the summary of one folder of seed folders."""
    mode = "test" if args.test_log else "train"
    names, others = seed_dirs(directory)
    runs = [read_run(os.path.join(directory, n), args.keyword, mode) for n in names]
    check_one_method(runs)
    values = [r.value for r in runs if r.value is not None]
    skipped = f" (skipped, not seed<N> folders: {', '.join(others)})" if others else ""
    if not values:
        raise NothingFound(
            f"Nothing found in {directory}: expected seed<N>/log.txt with "
            f"{expected_line(args.keyword, mode)}"
            + ("" if args.test_log else "; for evaluation-only logs pass --test-log")
            + skipped
        )
    print(f"Parsing {directory}", file=out)
    if others:
        print(f"  skipped (not seed<N> folders): {', '.join(others)}", file=out)
    for run in runs:
        if run.value is None:
            print(f"  {run.name}: no result ({run.problem(args.keyword, mode)})", file=out)
        else:
            print(f"  {run.name}: {args.keyword} = {run.value:.2f}%  ({run.log})", file=out)
    missing = [r.name for r in runs if r.value is None]
    mean, spread = mean_spread(values, args.ci95)
    count = (
        f"{len(values)} of {len(runs)} runs; no result: {', '.join(missing)}"
        if missing
        else (f"{len(values)} runs")
    )
    kind = "95% CI" if args.ci95 else "std"
    print(f"Summary of {directory} ({count})", file=out)
    if len(values) > 1:
        print(f"* {args.keyword}: {mean:.2f}% +- {spread:.2f}% ({kind})", file=out)
    else:  # one run is not a spread: no "+- 0.00%"
        print(f"* {args.keyword}: {mean:.2f}% (one run: no {kind})", file=out)
    return values, runs


def run_single(args, out) -> int:
    if not os.path.isdir(args.directory):
        raise NothingFound(f"Nothing found: {args.directory} is not a directory")
    summarize_dir(args.directory, args, out)
    return 0


def run_multi(args, out) -> int:
    if not os.path.isdir(args.directory):
        raise NothingFound(f"Nothing found: {args.directory} is not a directory")
    present = set(subdirs(args.directory))
    names = [name if is_nested_experiment(args.directory, name)
             else resolve_datasets([name], present, args.directory)[0]
             for name in split_list(args.datasets)]
    names = names or subdirs(args.directory)
    rows, found = [], 0
    for name in names:
        path = os.path.join(args.directory, name)
        if not os.path.isdir(path):
            rows.append([name, 0, MISSING, "", "no folder"])
            continue
        try:
            values, runs = summarize_dir(path, args, out)
        except NothingFound as err:
            print(str(err), file=out)
            rows.append([name, 0, MISSING, "", "no result"])
            continue
        found += 1
        mean, spread = mean_spread(values, args.ci95)
        missing = [r.name for r in runs if r.value is None]
        note = f"no result: {', '.join(missing)}" if missing else ""
        shown_spread = f"{spread:.2f}" if len(values) > 1 else ""  # one run has no spread
        rows.append([name, len(values), f"{mean:.2f}", shown_spread, note])
        print(file=out)
    if not found:
        raise NothingFound(
            f"Nothing found in {args.directory}: expected <experiment>/<seed folder>/log.txt "
            f"with {expected_line(args.keyword, 'test' if args.test_log else 'train')}"
        )
    spread_name = "95% CI" if args.ci95 else "std"
    headers = ["experiment", "runs", args.keyword, spread_name, "note"]
    print(render_rows(rows, headers, "markdown"), file=out)
    return draw_plot("experiments", rows, args, out) if args.plot else 0


def draw_plot(kind: str, data: list, args, out) -> int:
    """--plot: hand the numbers of the table just printed to plotting/figures.py, the one
    plotting module of the repository (matplotlib is imported only here)."""
    spread = "95% CI" if args.ci95 else "std"
    try:
        from plotting import figures as plotting

        if kind == "base2new":
            size = plotting.plot_base2new(data, args.plot, spread, metric=args.keyword)
        else:
            points = [(r[0], plotting.to_float(r[2]), plotting.to_float(r[3])) for r in data]
            size = plotting.plot_experiments(points, args.plot, f"{args.keyword} (%)", spread)
    except ImportError as err:
        print(f"error: --plot: {err}", file=sys.stderr)
        return 1
    print(f"Plot: {args.plot} ({size[0]}x{size[1]} px)", file=out)
    return 0


def render_rows(rows: list[list], headers: list[str], style: str) -> str:
    try:
        from tabulate import tabulate
    except ImportError:  # plain fallback: keeps the upstream modes free of dependencies
        lines = [" | ".join(map(str, headers))] + [" | ".join(map(str, r)) for r in rows]
        return "\n".join(lines)
    tablefmt = {"markdown": "github", "latex": "latex_booktabs"}[style]
    return tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True)


# --- ROOT --base2new ----------------------------------------------------------------------


@dataclass
class Method:
    """A table column: a label and the TRAINER/CFG patterns whose runs it shows."""

    label: str
    patterns: list[str]

    def matches(self, key: str) -> bool:
        return any(fnmatchcase(key, p if "/" in p else p + "/*") for p in self.patterns)


@dataclass
class Side:
    """The seeds of one side (base or new) of one dataset for one method."""

    values: dict[int, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def stats(self, ci95: bool) -> tuple[float, float] | None:
        return mean_spread(list(self.values.values()), ci95) if self.values else None


def scan_base2new(root: str, shots: int, keyword: str) -> dict:
    """{(side, dataset, "TRAINER/CFG"): {seed: Run}} for train_base (side "base") and test_new
    (side "new") under ROOT/<side dir>/<dataset>/shots_<shots>/<TRAINER>/<CFG>/seed<N>."""
    found: dict = {}
    for side, side_dir, mode in (("base", "train_base", "auto"), ("new", "test_new", "test")):
        top = os.path.join(root, side_dir)
        if not os.path.isdir(top):
            continue
        for dataset in subdirs(top):
            shots_dir = os.path.join(top, dataset, f"shots_{shots}")
            if not os.path.isdir(shots_dir):
                continue
            for trainer in subdirs(shots_dir):
                for cfg in subdirs(os.path.join(shots_dir, trainer)):
                    cfg_dir = os.path.join(shots_dir, trainer, cfg)
                    for name in seed_dirs(cfg_dir)[0]:
                        run = read_run(os.path.join(cfg_dir, name), keyword, mode)
                        if run.seed is not None:
                            found.setdefault((side, dataset, f"{trainer}/{cfg}"), {})[run.seed] = (
                                run
                            )
    return found


def default_methods(keys: set[str]) -> list[Method]:
    """One column per trainer found, baselines each followed by their SAR variant. (A trainer
    with two configs for one dataset is split per config later; ImageNet's own config alone
    does not split it.)"""
    by_trainer: dict[str, set[str]] = {}
    for key in keys:
        by_trainer.setdefault(key.split("/", 1)[0], set()).add(key)

    def order(trainer: str):
        known = trainer in TRAINER_ORDER
        return (0, TRAINER_ORDER.index(trainer), "") if known else (1, 0, trainer)

    return [Method(t, [t]) for t in sorted(by_trainer, key=order)]


def parse_methods(items: list[str]) -> list[Method]:
    methods = []
    for spec in split_list(items, sep=","):
        label, _, pattern_text = spec.rpartition("=") if "=" in spec else ("", "", spec)
        patterns = [p.strip() for p in pattern_text.split("+") if p.strip()]
        if not patterns:
            raise BadInput(f"--methods: empty method spec {spec!r}")
        methods.append(Method(label.strip() or pattern_text, patterns))
    return methods


def dataset_name(dataset: str) -> str:
    return PAPER_DATASETS.get(dataset, dataset)


def dataset_aliases(present: set[str]) -> dict[str, str]:
    """Lower-cased names a user may type -> folder name: the folder itself, the table's row
    label (``EuroSAT``) and the registered dataset name (``DescribableTextures``)."""
    aliases = {}
    for folder, label in {**PAPER_DATASETS, **VARIANT_DATASETS}.items():
        for name in (folder, label, REGISTERED_NAMES.get(folder, folder)):
            aliases[name.lower()] = folder
    aliases.update({folder.lower(): folder for folder in present})
    return aliases


def is_nested_experiment(directory: str, name: str) -> bool:
    """An experiment deeper than one folder (``shots_4/CoOp/cfg``) is named by its path."""
    return "/" in name.strip("/") and os.path.isdir(os.path.join(directory, name))


def resolve_datasets(names: list[str], present: set[str], where: str) -> list[str]:
    """``names`` as folder names. A name that is no dataset, here or in the papers, is refused
    with the list of what exists, rather than shown as an empty row."""
    aliases, out = dataset_aliases(present), []
    for name in names:
        folder = name if name in present else aliases.get(name.lower())
        if folder is None:
            have = ", ".join(sorted(present, key=natural_key)) or "none"
            raise BadInput(
                f"--datasets: unknown dataset {name!r}; found under {where}: {have} "
                f"(a folder name or the table's label, e.g. eurosat or EuroSAT)"
            )
        out.append(folder)
    return out


def dataset_order(datasets: set[str]) -> list[str]:
    known = [d for d in PAPER_DATASETS if d in datasets]
    return known + sorted(datasets - set(PAPER_DATASETS), key=natural_key)


def resolve_columns(methods: list[Method], found: dict, datasets: list[str]) -> dict:
    """{(label, dataset): "TRAINER/CFG" or None}; fails on a column that matches two configs
    for one dataset."""
    assigned = {}
    for method in methods:
        for dataset in datasets:
            keys = sorted({k for (_, d, k) in found if d == dataset and method.matches(k)})
            if len(keys) > 1:
                raise BadInput(
                    f"column {method.label!r} matches several runs for {dataset}: "
                    f"{', '.join(keys)}. Pick one per column with --methods, e.g. "
                    f"--methods '{keys[0].split('/')[0]}={keys[0]}'"
                )
            assigned[method.label, dataset] = keys[0] if keys else None
    return assigned


def build_side(runs: dict[int, Run] | None, seeds: list[int]) -> Side:
    side = Side()
    runs = runs or {}
    for seed in seeds:
        run = runs.get(seed)
        if run is not None and run.value is not None:
            side.values[seed] = run.value
        elif run is not None:
            side.missing.append(f"seed{seed} (unfinished: no result in {run.log or run.path})")
        else:
            side.missing.append(f"seed{seed}")
    return side


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    records: list[dict]  # one per (method, row), for CSV
    notes: list[str]
    caption: str
    labels: list[str] = field(default_factory=list)  # the methods, one per 3 columns


def transpose(table: Table) -> Table:
    """One row per method and Base/New/HM per dataset: the shape of an ablation (a grid of
    settings of one method on a few datasets). One dataset needs no Average."""
    rows = table.rows if len(table.rows) != 2 else table.rows[:1]
    headers = ["Method"] + [f"{row[0]} {part}" for row in rows for part in ("Base", "New", "HM")]
    out = [[label] + [cell for row in rows for cell in row[1 + 3 * i : 4 + 3 * i]]
           for i, label in enumerate(table.labels)]
    return Table(headers, out, table.records, table.notes, table.caption, table.labels)


def base2new_table(args) -> Table:
    """The paper table: one row per dataset and the Average, three columns per method."""
    found = scan_base2new(args.directory, args.shots, args.keyword)
    check_anything_found(args.directory, found, args)
    methods, datasets, seeds, assigned = table_layout(args, found)
    spread_name = "95% CI" if args.ci95 else "std"
    rows: list[list[str]] = [[dataset_name(ds)] for ds in datasets]
    average_row, records, notes, short_avg = ["Average"], [], [], []
    for method in methods:
        summaries = []
        for i, dataset in enumerate(datasets):
            cells, summary = dataset_cells(method, dataset, assigned, found, seeds, args)
            rows[i] += cells
            summaries.append(summary)
            notes += summary["notes"]
            records.append(summary["record"])
        cells, record, note = average_cells(method.label, summaries, args.decimals, spread_name)
        average_row += cells
        records.append(record)
        notes += [note] if note else []
        complete = sum(1 for s in summaries if s["hm"] is not None)
        if 0 < complete < len(PAPER_DATASETS):
            short_avg.append(f"{method.label} ({complete})")
    if short_avg:
        notes.append("Average over fewer datasets than the papers' 11: " + ", ".join(short_avg))
    headers = ["Dataset"]
    for method in methods:
        headers += [f"{method.label} Base", f"{method.label} New", f"{method.label} HM"]
    caption = (
        f"Base-to-new generalization, {args.shots} shots: {args.keyword} (%), mean ± "
        f"{spread_name} over seeds {', '.join(map(str, seeds))}; HM = harmonic mean of base and "
        f"new; Average = mean over datasets, its HM computed from the mean base and mean new. "
        f"* = incomplete (see notes)."
    )
    return Table(headers, rows + [average_row], records, notes, caption,
                 [method.label for method in methods])


def check_anything_found(root: str, found: dict, args) -> None:
    """A table of nothing but dashes helps nobody: say where the runs were looked for."""
    if any(run.value is not None for runs in found.values() for run in runs.values()):
        return
    side = f"<dataset>/shots_{args.shots}/<TRAINER>/<CFG>/seed<N>/log.txt"
    msg = (
        f"Nothing found under {root}: expected {os.path.join(root, 'train_base', side)} with "
        f"a line '* {args.keyword}: <number>%' after {END_WORDING}, and "
        f"{os.path.join(root, 'test_new', side)} with a line '* {args.keyword}: <number>%'"
    )
    if found:
        msg += f" ({sum(len(r) for r in found.values())} run folders hold no result yet)"
    if os.path.isdir(os.path.join(root, "base2new")):
        msg += f"; did you mean {os.path.join(root, 'base2new')}?"
    raise NothingFound(msg)


def table_layout(args, found: dict) -> tuple[list[Method], list[str], list[int], dict]:
    """Columns, rows, expected seeds and the TRAINER/CFG each cell reads; every name the user
    gave must exist, so a typo fails instead of printing an empty row or column."""
    root, keys = args.directory, {k for (_, _, k) in found}
    methods = parse_methods(args.methods) if args.methods else default_methods(keys)
    for method in methods:
        if not any(method.matches(k) for k in keys):
            raise BadInput(
                f"--methods {method.label!r} selects none of the runs under {root}; found: "
                + ", ".join(sorted(keys))
            )
    selected = {k for k in keys if any(m.matches(k) for m in methods)}
    present = {d for (_, d, k) in found if k in selected}
    datasets = resolve_datasets(split_list(args.datasets), present, root) or dataset_order(present)
    seeds = [parse_seed(s) for s in split_list(args.seeds)] or sorted(
        {s for (_, _, k), runs in found.items() if k in selected for s in runs}
    )
    if not args.methods:
        methods = split_multi_config(methods, found, datasets, selected)
    return methods, datasets, seeds, resolve_columns(methods, found, datasets)


def parse_seed(text: str) -> int:
    if not text.isdigit():
        raise BadInput(f"--seeds: {text!r} is not a seed number")
    return int(text)


def split_multi_config(methods: list[Method], found: dict, datasets: list[str], selected: set):
    """A default column (one trainer) with two configs for one dataset becomes a column per
    config, e.g. an EXP_TAG ablation beside the plain run."""
    split = []
    for method in methods:
        try:
            resolve_columns([method], found, datasets)
            split.append(method)
        except BadInput:
            split.extend(Method(k, [k]) for k in sorted(k for k in selected if method.matches(k)))
    return split


def dataset_cells(method: Method, dataset: str, assigned: dict, found: dict, seeds, args):
    """The Base, New and HM cells of one dataset for one method, and what the Average, the
    notes and the CSV need to know about them."""
    d, key = args.decimals, assigned[method.label, dataset]
    check_one_method([run for side in ("base", "new")
                      for run in found.get((side, dataset, key), {}).values()])
    base = build_side(found.get(("base", dataset, key)), seeds) if key else Side()
    new = build_side(found.get(("new", dataset, key)), seeds) if key else Side()
    b, n = base.stats(args.ci95), new.stats(args.ci95)
    flagged = bool(base.missing or new.missing) or key is None
    hm = harmonic_mean(b[0], n[0]) if b and n else None
    cells = [side_cell(stats, side, d) for stats, side in ((b, base), (n, new))]
    cells.append(MISSING if hm is None else fmt(hm, d) + ("*" if flagged else ""))
    where = f"{method.label} / {dataset_name(dataset)}"
    spread_name = "95% CI" if args.ci95 else "std"
    record = {"method": method.label, "dataset": dataset_name(dataset), "config": key or ""}
    for name, stats, side in (("base", b, base), ("new", n, new)):
        record[name] = fmt(stats[0], d) if stats else ""
        # one seed is not a spread: an empty cell, never 0.00 (nor a zero-width error bar)
        spread_known = stats and len(side.values) > 1
        record[f"{name}_{spread_name}"] = fmt(stats[1], d) if spread_known else ""
        record[f"{name}_seeds"] = " ".join(map(str, sorted(side.values)))
    record["hm"], record["complete"] = fmt(hm, d), str(not flagged)
    record["note"] = "no runs" if key is None else "; ".join(
        f"{name} missing {', '.join(side.missing)}"
        for name, side in (("base", base), ("new", new))
        if side.missing
    )
    notes = [f"{where}: no runs"] if key is None else side_notes(where, base, new, len(seeds))
    summary = {"hm": hm, "means": (b[0], n[0]) if hm is not None else None, "flagged": flagged,
               "name": dataset_name(dataset), "notes": notes, "record": record}
    return cells, summary


def side_cell(stats: tuple[float, float] | None, side: Side, d: int) -> str:
    if stats is None:
        return MISSING
    text = fmt(stats[0], d) + (f" ± {fmt(stats[1], d)}" if len(side.values) > 1 else "")
    return text + ("*" if side.missing else "")


def side_notes(where: str, base: Side, new: Side, n_seeds: int) -> list[str]:
    notes = []
    for side_name, side in (("base", base), ("new", new)):
        if side.missing and not side.values:
            notes.append(f"{where}: no {side_name} result (all seeds missing)")
        elif side.missing:
            notes.append(
                f"{where}: {side_name} is the mean of {len(side.values)} of {n_seeds} seeds; "
                "missing " + ", ".join(side.missing)
            )
    return notes


def average_cells(label: str, summaries: list[dict], d: int, spread_name: str):
    """The Average of one method, as the papers compute it: mean base and mean new over the
    datasets that have both, and the HM of those two means; anything left out is said."""
    excluded = [s["name"] for s in summaries if s["hm"] is None]
    flagged = [s["name"] for s in summaries if s["hm"] is not None and s["flagged"]]
    avg_note = []
    if excluded:
        avg_note.append(f"leaves out {', '.join(excluded)} (no base or no new result)")
    if flagged:
        avg_note.append(f"includes datasets with missing seeds ({', '.join(flagged)})")
    complete = [s["means"] for s in summaries if s["means"] is not None]
    base_avg = new_avg = hm_avg = None
    if complete:
        base_avg = statistics.fmean(m[0] for m in complete)
        new_avg = statistics.fmean(m[1] for m in complete)
        hm_avg = harmonic_mean(base_avg, new_avg)
        mark = "*" if avg_note else ""
        cells = [fmt(base_avg, d) + mark, fmt(new_avg, d) + mark, fmt(hm_avg, d) + mark]
    else:
        cells = [MISSING, MISSING, MISSING]
    record = {"method": label, "dataset": "Average", "config": ""}
    for name, value in (("base", base_avg), ("new", new_avg)):
        record.update({name: fmt(value, d), f"{name}_{spread_name}": "", f"{name}_seeds": ""})
    record.update(hm=fmt(hm_avg, d), complete=str(not avg_note), note="; ".join(avg_note))
    note = f"{label} / Average: incomplete: " + "; ".join(avg_note) if avg_note else None
    return cells, record, note


def render_table(table: Table, style: str) -> str:
    if style == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(table.records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(table.records)
        return buf.getvalue().rstrip("\n")
    body = render_rows(table.rows, table.headers, style)
    if style == "latex":
        body = body.replace("±", r"$\pm$").replace(MISSING, "--")
        lines = [f"% {table.caption}", body] + [f"% * {note}" for note in table.notes]
        return "\n".join(lines)
    parts = [table.caption, "", body]
    if table.notes:
        parts += ["", "Notes:"] + [f"- {note}" for note in table.notes]
    return "\n".join(parts)


def run_base2new(args, out) -> int:
    style = args.format
    if args.decimals is None:
        args.decimals = 4 if style == "csv" else 2
    table = base2new_table(args)
    if args.transpose:
        table = transpose(table)
    print(render_table(table, style), file=out)
    return draw_plot("base2new", table.records, args, out) if args.plot else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Table: python parse_test_res.py output/base2new --base2new "
        "[--format markdown|latex|csv] [--ci95] [--methods CoOp,CoOp_SAR]",
    )
    parser.add_argument("directory", metavar="DIR", help="folder of seed folders (see modes)")
    parser.add_argument("--ci95", action="store_true", help="± 95%% CI instead of ± std")
    parser.add_argument(
        "--test-log", action="store_true", help="take the last result anywhere in the log"
    )
    parser.add_argument(
        "--multi-exp", action="store_true", help="DIR holds experiment folders of seed folders"
    )
    parser.add_argument("--keyword", default="accuracy", help="the '* KEYWORD: X%%' line to read")
    parser.add_argument(
        "--base2new", action="store_true", help="DIR is output/base2new: print the paper table"
    )
    parser.add_argument(
        "--format", choices=["markdown", "latex", "csv"], help="table format (--base2new; "
        "default markdown)"
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        help="table columns, separated by spaces or commas: TRAINER, TRAINER/CFG or "
        "LABEL=PATTERN[+PATTERN] "
        "(shell-style wildcards); default: one column per trainer found",
    )
    parser.add_argument(
        "--datasets", nargs="+", help="rows (--base2new) or experiments (--multi-exp) to show"
    )
    parser.add_argument(
        "--seeds", nargs="+", help="seeds every cell should have (default: all seeds found)"
    )
    parser.add_argument("--shots", type=int,
                        help="the shots_N folder (--base2new; default: the one there, else 16)")
    parser.add_argument("--decimals", type=int, help="decimals in the table (default 2; csv 4)")
    parser.add_argument("--plot", metavar="PNG",
                        help="also draw the table (--base2new or --multi-exp) into this PNG")
    parser.add_argument("--transpose", action="store_true", default=None,
                        help="one row per method (e.g. per point of a grid), Base/New/HM per "
                        "dataset (--base2new)")
    return parser


def main(argv: list[str] | None = None, out=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.plot and not (args.base2new or args.multi_exp):
        parser.error("--plot draws a table: use it with --base2new or --multi-exp")
    out = out or sys.stdout
    try:
        check_mode_flags(args)
        if args.base2new:
            return run_base2new(args, out)
        if args.multi_exp:
            return run_multi(args, out)
        return run_single(args, out)
    except NothingFound as err:
        print(str(err), file=sys.stderr)
        return 1
    except BadInput as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


SHOTS_FOLDER = re.compile(r"shots_(\d+)")


def default_shots(root: str) -> int:
    """The N of ROOT's train_base/<dataset>/shots_N folders, so that the table and its caption
    name the shots that ran; 16 (the protocol's) when there are none, and a refusal when runs
    of several shot counts would otherwise be mixed or picked silently."""
    found = set()
    train_base = os.path.join(root, "train_base")
    for dataset in subdirs(train_base) if os.path.isdir(train_base) else []:
        for name in subdirs(os.path.join(train_base, dataset)):
            match = SHOTS_FOLDER.fullmatch(name)
            if match:
                found.add(int(match.group(1)))
    if len(found) > 1:
        names = ", ".join(f"shots_{n}" for n in sorted(found))
        raise BadInput(f"{train_base} holds runs of several shot counts ({names}): "
                       "pick one with --shots")
    return found.pop() if found else 16


# Flags that only --base2new reads: given to another mode, they would be ignored silently.
TABLE_FLAGS = {"format": "--format", "methods": "--methods", "seeds": "--seeds",
               "shots": "--shots", "decimals": "--decimals", "transpose": "--transpose"}


def check_mode_flags(args) -> None:
    if args.base2new:
        args.format = args.format or "markdown"
        args.shots = default_shots(args.directory) if args.shots is None else args.shots
        return
    given = [name for key, name in TABLE_FLAGS.items() if getattr(args, key) is not None]
    if given:
        raise BadInput(f"{', '.join(given)} only apply to the table: add --base2new")


if __name__ == "__main__":
    from launch.cli import exit_status_into_a_pipe

    sys.exit(exit_status_into_a_pipe(main))
