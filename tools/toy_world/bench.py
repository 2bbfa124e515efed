"""The base-to-new table on a toy world, through the real experiment scripts.

Each (method, seed) runs ``scripts/<method>/base2new_train.sh`` then ``base2new_test.sh`` on the
world's data root, exactly as a user's sweep would (same configs, output layout and logs), with
only the toy model's facts added: its checkpoint, 32-px input, the world's bank, CPU settings,
and prompt depths clamped to its 2 layers. Results are read back from the logs.
"""

import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .layout import DATA_FOLDER, MODEL_FILE, bank_path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # parse_test_res.py stands at the top, beside train.py
DATASET = "caltech101"
SHOTS = 16
COLLAPSE_POINTS = 15.0  # a seed more than this far below the method's median has collapsed
# the toy model's input and the CPU settings, which any codebase's train.py accepts
TOY_CPU_OPTS = ["INPUT.SIZE", "(32, 32)", "USE_CUDA", "False", "DATALOADER.NUM_WORKERS", "0"]
# prompt depths clamped to the toy's 2 layers, per config node
TOY_DEPTH_OPTS = {
    "MAPLE": ["TRAINER.MAPLE.PROMPT_DEPTH", "2"],
    "PROMPTSRC": ["TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "2",
                  "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "2"],
}
TOY_OPTS = [*TOY_CPU_OPTS, *(o for opts in TOY_DEPTH_OPTS.values() for o in opts)]
TRAINER_NAMES = {
    "zeroshotclip": "ZeroshotCLIP", "coop": "CoOp", "cocoop": "CoCoOp", "kgcoop": "KgCoOp",
    "maple": "MaPLe", "promptsrc": "PromptSRC",
}


def trainer_name(method):
    """``coop_atp_sar`` -> ``CoOp_ATP_SAR``: a baseline, then ``_atp`` and/or ``_sar``."""
    base = method.removesuffix("_sar")
    core = base.removesuffix("_atp")
    if core not in TRAINER_NAMES or (core != base and core == "zeroshotclip"):
        raise ValueError(f"unknown method {method!r}; known: {', '.join(TRAINER_NAMES)} "
                         "and each trained one with _sar, _atp or _atp_sar")
    return (TRAINER_NAMES[core] + ("_ATP" if core != base else "")
            + ("_SAR" if method.endswith("_sar") else ""))


def toy_opts(world):
    world = Path(world)
    return ["MODEL.BACKBONE.NAME", str(world / MODEL_FILE), *TOY_OPTS,
            "TRAINER.SAR.NOVEL_SOURCE", bank_path(world / DATA_FOLDER)]


def run_job(method, seed, world, out, opts, tag, data=None):
    """Train on base then test on new for one seed; returns the scripts' exit status.

    ``data`` replaces the world's data root (the parity audit gives ours a root of its own).
    """
    env = dict(os.environ, DATA=str(data or Path(world) / DATA_FOLDER), OUTPUT=str(out),
               PYTHON=sys.executable, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    if tag:
        env["EXP_TAG"] = tag
    log_dir = Path(out) / "jobs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{method}{'_' + tag if tag else ''}_seed{seed}.log", "w") as log:
        for step in ("base2new_train", "base2new_test"):
            script = REPO / "scripts" / method / f"{step}.sh"
            done = subprocess.run(["bash", str(script), DATASET, str(seed), *opts], env=env,
                                  stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
            if done.returncode != 0:
                return done.returncode
    return 0


def read_accuracy(log_path):
    """The accuracy a train.py log reports (after training, or of an evaluation-only run)."""
    from parse_test_res import read_value

    return read_value(str(log_path), "accuracy", "auto")


def run_logs(out, trainer, folder, seed, tag=""):
    """The log.txt files of one seed's runs under ``base2new/<folder>`` (train_base or
    test_new). The config folder is ``<CFG>`` or, with a tag, ``<CFG>_<tag>``, as the scripts
    name it."""
    runs = Path(out) / "base2new" / folder / DATASET / f"shots_{SHOTS}" / trainer
    configs = sorted(p.name for p in runs.glob("*") if p.is_dir())
    if tag:
        configs = [c for c in configs if c.endswith("_" + tag)]
    else:  # the untagged folder: the shortest name (the others are <it>_<tag>)
        configs = [min(configs, key=len)] if configs else []
    logs = [runs / c / f"seed{seed}" / "log.txt" for c in configs]
    return [p for p in logs if p.is_file()]


def read_results(out, trainer, seeds, tag=""):
    """{seed: (base, new)} from the runs' logs (None where a log holds no result)."""
    results = {}
    for seed in seeds:
        pair = []
        for folder in ("train_base", "test_new"):
            logs = run_logs(out, trainer, folder, seed, tag)
            pair.append(read_accuracy(logs[-1]) if logs else None)
        results[seed] = tuple(pair)
    return results


def collapsed_seeds(per_seed):
    """Seeds whose base or new accuracy is more than COLLAPSE_POINTS below the median."""
    bad = []
    for index in (0, 1):
        values = [v[index] for v in per_seed.values() if v[index] is not None]
        if not values:
            continue
        median = statistics.median(values)
        bad += [s for s, v in per_seed.items() if v[index] is not None
                and v[index] < median - COLLAPSE_POINTS]
    return sorted(set(bad))


def mean_std(values):
    """"mean ± std" (the parser's population std) of the values that exist, or "-"."""
    from parse_test_res import mean_spread

    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return "{:.1f} ± {:.1f}".format(*mean_spread(values, ci95=False))


def report(rows, seeds, title):
    """Markdown: the mean table, then every seed (HM per seed, as the parser computes it)."""
    from parse_test_res import harmonic_mean

    lines = [f"### {title}", "", "| method | base | new | HM | collapsed seeds |",
             "|---|---|---|---|---|"]
    for method, per_seed in rows.items():
        base = [v[0] for v in per_seed.values()]
        new = [v[1] for v in per_seed.values()]
        hm = [harmonic_mean(*v) if None not in v else None for v in per_seed.values()]
        bad = collapsed_seeds(per_seed)
        lines.append(f"| {method} | {mean_std(base)} | {mean_std(new)} | {mean_std(hm)} | "
                     f"{', '.join(map(str, bad)) or 'none'} |")
    lines += ["", "Per seed (base / new):", "",
              "| method | " + " | ".join(f"seed {s}" for s in seeds) + " |",
              "|---|" + "---|" * len(seeds)]
    for method, per_seed in rows.items():
        cells = [f"{_cell(per_seed[s][0])} / {_cell(per_seed[s][1])}" for s in seeds]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(value):
    return "-" if value is None else f"{value:.1f}"


def bench(world, methods, seeds, out, jobs=2, opts=(), tag="", title=None):
    """Run every (method, seed) with ``jobs`` at a time; returns (markdown, failures)."""
    trainers = {m: trainer_name(m) for m in methods}
    all_opts = [*toy_opts(world), *opts]
    todo = [(m, s) for m in methods for s in seeds]
    with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        codes = list(pool.map(lambda job: run_job(*job, world, out, all_opts, tag), todo))
    failures = [f"{m} seed {s} (exit {c})" for (m, s), c in zip(todo, codes) if c != 0]
    rows = {trainers[m]: read_results(out, trainers[m], seeds, tag) for m in methods}
    name = title or f"{Path(world).name}{' ' + tag if tag else ''}"
    return report(rows, seeds, name), failures


def emit(text, failures, report_path, log_hint):
    """Print a markdown report (and append it to ``report_path``), then one line per failed
    run; returns the exit status: 1 if any run failed."""
    print(text)
    if report_path:
        with open(report_path, "a", encoding="utf-8") as f:
            f.write(text + "\n")
    for failure in failures:
        print(f"error: failed: {failure} (its log is under {log_hint})", file=sys.stderr)
    return 1 if failures else 0
