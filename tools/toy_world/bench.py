"""The base-to-new table on a toy world, through the real experiment scripts.

Each (method, seed) runs ``scripts/<method>/base2new_train.sh`` then ``base2new_test.sh`` on the
world's data root, exactly as a user's sweep would (same configs, output layout and logs), with
only the toy model's facts added: its checkpoint, 32-px input, the world's bank, CPU settings,
and prompt depths clamped to its 2 layers. Results are read back from the logs.
"""

import math
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .layout import DATA_FOLDER, MODEL_FILE, bank_path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # launch/ and parse_test_res.py stand at the top
from launch.run_record import RECORD_NAME, read_record, record_difference, write_record  # noqa: E402

DATASET = "caltech101"
SHOTS = 16
COLLAPSE_POINTS = 15.0  # a seed more than this far below the method's median has collapsed
STUCK_NATS = 1.0  # a SAR run whose last epoch's mean L_SAR stays above this never came back
SAR_MEAN = re.compile(r"\bloss_sar \S+ \((\S+)\)")  # Dassl's "loss_sar <batch> (<epoch mean>)"
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


def job_name(method, seed, tag=""):
    return f"{method}{'_' + tag if tag else ''}_seed{seed}"


def run_job(method, seed, world, out, opts, tag, data=None):
    """Train on base then test on new for one seed; returns the scripts' exit status.

    ``data`` replaces the world's data root (the parity audit gives ours a root of its own).
    The job's log is appended to, so an earlier attempt's output stays readable above.
    """
    env = dict(os.environ, DATA=str(data or Path(world) / DATA_FOLDER), OUTPUT=str(out),
               PYTHON=sys.executable, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    if tag:
        env["EXP_TAG"] = tag
    log_dir = Path(out) / "jobs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{job_name(method, seed, tag)}.log", "a") as log:
        log.write(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} {method} seed {seed}\n")
        log.flush()
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


def last_sar_loss(log_path):
    """The last running mean of loss_sar a training log printed (its final epoch's, up to the
    last printed batch), or None for a run without SAR."""
    last = None
    with open(log_path, errors="replace") as f:
        for line in f:
            found = SAR_MEAN.search(line)
            if found:
                last = float(found.group(1))
    return last


def stuck_seeds(out, trainer, seeds, tag=""):
    """Seeds whose L_SAR ended above STUCK_NATS (or not finite): SAR's own collapse, the jump
    that never recovers (docs/toy_world.md, "SAR stability"). None when the runs have no SAR."""
    losses = {}
    for seed in seeds:
        logs = run_logs(out, trainer, "train_base", seed, tag)
        value = last_sar_loss(logs[-1]) if logs else None
        if value is not None:
            losses[seed] = value
    if not losses:
        return None
    return [s for s, v in losses.items() if not (math.isfinite(v) and v <= STUCK_NATS)]


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
    """"mean ± std" (the parser's population std) of the values that exist, or "-"; a single
    value has no spread, so it shows alone."""
    from parse_test_res import mean_spread

    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return "{:.1f} ± {:.1f}".format(*mean_spread(values, ci95=False))


def collapse_cell(per_seed):
    """The collapse verdict, which needs seeds to compare: none with fewer than two."""
    complete = [v for v in per_seed.values() if None not in v]
    if len(complete) < 2:
        return "n/a (one seed)"
    return ", ".join(map(str, collapsed_seeds(per_seed))) or "none"


def report(rows, seeds, title, stuck=None):
    """Markdown: the mean table, then every seed (HM per seed, as the parser computes it).
    ``stuck``: {method: stuck_seeds(...)}, a column of its own where any method has SAR.

    A method run on fewer seeds than the others (ZeroshotCLIP, which no seed changes, runs
    once) shows '=' in the seeds it did not run, and a note says which run stands for them.
    """
    from parse_test_res import harmonic_mean

    stuck = {m: v for m, v in (stuck or {}).items() if v is not None}
    header = "| method | base | new | HM | collapsed seeds |"
    if stuck:
        header += f" L_SAR stuck (last epoch > {STUCK_NATS:g} nat) |"
    lines = [f"### {title}", "", header, "|---|---|---|---|---|" + "---|" * bool(stuck)]
    for method, per_seed in rows.items():
        base = [v[0] for v in per_seed.values()]
        new = [v[1] for v in per_seed.values()]
        hm = [harmonic_mean(*v) if None not in v else None for v in per_seed.values()]
        line = (f"| {method} | {mean_std(base)} | {mean_std(new)} | {mean_std(hm)} | "
                f"{collapse_cell(per_seed)} |")
        if stuck:
            seeds_stuck = stuck.get(method)
            line += (" |" if seeds_stuck is None
                     else f" {', '.join(map(str, seeds_stuck)) or 'none'} |")
        lines.append(line)
    lines += ["", "Per seed (base / new):", "",
              "| method | " + " | ".join(f"seed {s}" for s in seeds) + " |",
              "|---|" + "---|" * len(seeds)]
    notes = []
    for method, per_seed in rows.items():
        cells = [f"{_cell(per_seed[s][0])} / {_cell(per_seed[s][1])}" if s in per_seed else "="
                 for s in seeds]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
        if len(per_seed) == 1 and len(seeds) > 1:
            notes.append(f"{method} does not depend on the seed: one run (seed "
                         f"{next(iter(per_seed))}); '=' marks the seeds it stands for.")
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def _cell(value):
    return "-" if value is None else f"{value:.1f}"


def check_world(world):
    """The world folder must hold what ``make`` writes; one line naming it otherwise."""
    world = Path(world)
    if not world.is_dir():
        raise ValueError(f"--world {world}: no such folder (write one with: python -m "
                         f"tools.toy_world make --out {world})")
    for name in (MODEL_FILE, DATA_FOLDER):
        if not (world / name).exists():
            raise ValueError(f"--world {world}: no {name} in it (not a folder written by "
                             "'python -m tools.toy_world make')")


def job_seeds(method, seeds):
    """ZeroshotCLIP trains nothing and tests on every test image: one seed stands for all."""
    return seeds[:1] if method.removesuffix("_sar") == "zeroshotclip" else list(seeds)


def job_request(method, seed, world, opts, tag):
    """What a job is asked to do: its record (launch/run_record.py) must equal this."""
    return {"method": method, "seed": seed, "world": str(Path(world).resolve()),
            "tag": tag, "opts": list(opts)}


def record_path(out, method, seed, tag):
    return Path(out) / "jobs" / f"{job_name(method, seed, tag)}.{RECORD_NAME}"


def job_done(out, method, seed, tag, request):
    """True when the job is done: both its runs hold a result and its record equals the
    request. A finished run made with other options (or with none recorded) raises ValueError."""
    trainer = trainer_name(method)
    found = [read_accuracy(logs[-1]) if logs else None
             for logs in (run_logs(out, trainer, f, seed, tag) for f in ("train_base", "test_new"))]
    if all(value is None for value in found):
        return False
    changed = record_difference(read_record(record_path(out, method, seed, tag)), request)
    if changed:
        where = Path(out) / "base2new"
        raise ValueError(f"{out} already holds {method} seed {seed} made with other options "
                         f"({changed}); bench into another --out, give it a --tag, or delete "
                         f"{where} to run it again")
    return None not in found


def bench(world, methods, seeds, out, jobs=2, opts=(), tag="", title=None, progress=None):
    """Run every (method, seed) with ``jobs`` at a time; returns (markdown, failures).

    Everything is checked before anything runs: the world, the methods, and that no finished
    run under ``out`` was made with other options (a stale table would be a silent wrong
    result). Jobs whose runs are finished with these very options are not run again.
    """
    check_world(world)
    world = Path(world).resolve()  # one request whether the world was named relatively or not
    trainers = {m: trainer_name(m) for m in methods}
    all_opts = [*toy_opts(world), *opts]
    todo, done = [], []
    for method in methods:
        for seed in job_seeds(method, seeds):
            request = job_request(method, seed, world, all_opts, tag)
            is_done = job_done(out, method, seed, tag, request)
            (done if is_done else todo).append((method, seed, request))
    tracker = Progress(len(todo) + len(done), Path(out) / "jobs", progress)
    tracker.say(f"{len(todo) + len(done)} jobs ({len(done)} already done), {max(jobs, 1)} at a "
                f"time; each job's log goes to {Path(out) / 'jobs'}")
    for method, seed, _ in done:
        tracker.finished(method, seed, tag, None)

    def one(job):
        method, seed, request = job
        write_record(record_path(out, method, seed, tag), request)
        tracker.started(method, seed, tag)
        code = run_job(method, seed, world, out, all_opts, tag)
        tracker.finished(method, seed, tag, code)
        return code

    with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        codes = list(pool.map(one, todo))
    failures = [f"{m} seed {s} (exit {c})" for (m, s, _), c in zip(todo, codes) if c != 0]
    rows = {trainers[m]: read_results(out, trainers[m], job_seeds(m, seeds), tag)
            for m in methods}
    stuck = {trainers[m]: stuck_seeds(out, trainers[m], job_seeds(m, seeds), tag)
             for m in methods}
    name = title or f"{Path(world).name}{' ' + tag if tag else ''}"
    return report(rows, seeds, name, stuck), failures


class Progress:
    """One line per job started and finished: jobs done of total, elapsed time, an ETA (from
    the mean time of the jobs run so far), and the job's log."""

    def __init__(self, total, log_dir, stream=None):
        self.total, self.log_dir, self.count, self.ran = total, log_dir, 0, 0
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.lock = threading.Lock()

    def say(self, text):
        with self.lock:
            print(f"bench: {text}", file=self.stream, flush=True)

    def started(self, method, seed, tag):
        self.say(f"started {method} seed {seed}; log: "
                 f"{self.log_dir / (job_name(method, seed, tag) + '.log')}")

    def finished(self, method, seed, tag, code):
        with self.lock:
            self.count += 1
            self.ran += code is not None
            elapsed = time.monotonic() - self.start
            left = self.total - self.count
            eta = f", ETA {_clock(elapsed / self.ran * left)}" if self.ran and left else ""
            count = self.count
        what = ("already done with these options (not rerun)" if code is None
                else "done" if code == 0 else f"FAILED (exit {code})")
        self.say(f"[{count}/{self.total}] {method} seed {seed} {what}; "
                 f"elapsed {_clock(elapsed)}{eta}")


def _clock(seconds):
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


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
