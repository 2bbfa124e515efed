"""Training parity with upstream: each baseline trained by its own repository and by ours.

For every (method, seed) three runs share one toy world's data root, config and seed:

* ``upstream``: the fork's own ``train.py`` (through ``upstream_run.py``), with the command our
  script would run, its config paths pointed at the fork's own YAML files;
* ``ours``: ``scripts/<method>/base2new_{train,test}.sh``, as a user runs them;
* ``ours_single_seed``: ours with ``TRAIN.RESEED_EACH_EPOCH False``, seeded once as upstream
  is, which isolates what our per-epoch re-seeding changes.

The forks are checkouts the user fetched (``--upstream`` holds them under their repository
names); none of their code is part of this repository.
"""

import math
import os
import re
import shlex
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tools.toy_world.bench import (
    DATASET,
    REPO,
    TOY_CPU_OPTS,
    TOY_DEPTH_OPTS,
    read_results,
    report,
    run_job,
    run_logs,
    toy_opts,
    trainer_name,
)
from tools.toy_world.layout import DATA_FOLDER, MODEL_FILE

RUNNER = Path(__file__).resolve().with_name("upstream_run.py")
SINGLE_SEED_TAG = "single_seed"
SINGLE_SEED_OPTS = ["TRAIN.RESEED_EACH_EPOCH", "False"]
# method -> (fork folder, its Dassl folder, config node)
FORKS = {
    "coop": ("CoOp", "Dassl.pytorch", "COOP"),
    "cocoop": ("CoOp", "Dassl.pytorch", "COCOOP"),
    "kgcoop": ("KgCoOp/KgCoOp", "KgCoOp/Dassl.ProGrad.pytorch", "COOP"),
    "maple": ("multimodal-prompt-learning", "Dassl.pytorch", "MAPLE"),
    "promptsrc": ("PromptSRC", "Dassl.pytorch", "PROMPTSRC"),
    # ATPrompt (zhengli97/ATPrompt) vendors a modified Dassl (test(is_final=True))
    "coop_atp": ("ATPrompt", "ATPrompt/Dassl.pytorch", "COOP"),
    "cocoop_atp": ("ATPrompt", "ATPrompt/Dassl.pytorch", "COCOOP"),
    "maple_atp": ("ATPrompt", "ATPrompt/Dassl.pytorch", "MAPLE"),
}
BASELINES = [method for method in FORKS if not method.endswith("_atp")]  # the default audit
# Our config -> the fork's file it stands for, where the names differ: ATPrompt's scripts take
# its baselines' YAML files and set the epochs on the command line (to_fork passes ours on).
FORK_CONFIGS = {
    "trainers/CoOp_ATP/vit_b16_ep100.yaml": "trainers/CoOp/vit_b16.yaml",
    "trainers/CoOp_ATP/vit_b16_ep10.yaml": "trainers/CoOp/vit_b16.yaml",
    "trainers/CoCoOp_ATP/vit_b16_c4_ep10_batch1_ctxv1.yaml":
        "trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml",
    "trainers/MaPLe_ATP/vit_b16_c2_ep5_batch4_2ctx.yaml":
        "trainers/MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml",
    "trainers/MaPLe_ATP/vit_b16_c2_ep10_batch4_2ctx.yaml":
        "trainers/MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml",
}
ARMS = ("upstream", "ours", "ours_single_seed")
GIVEN_WORDS_SUFFIX = "_given_words"  # upstream ATPrompt's dataset alias (given_words_args)
CONFIG_KEY = re.compile(r"[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+")  # a KEY of train.py's opts
LOSS_LINE = re.compile(r"\bloss (\S+) \((\S+)\)")
STEP_TIME = re.compile(r"\btime \S+ \((\S+)\)")


def fork_paths(method, upstream_root):
    """(fork root, Dassl root) of a method, checked to exist."""
    if method not in FORKS:
        raise ValueError(f"no upstream fork known for {method!r}; known: {', '.join(FORKS)}")
    fork_name, dassl_name, _ = FORKS[method]
    fork, dassl = Path(upstream_root) / fork_name, Path(upstream_root) / dassl_name
    for path, what in ((fork / "train.py", "fork"), (dassl / "dassl", "Dassl")):
        if not path.exists():
            raise FileNotFoundError(f"{path}: the {method} {what} checkout is missing "
                                    f"(--upstream {upstream_root})")
    return fork, dassl


def shared_opts(method, prec):
    """Opts both codebases get: CPU input settings, precision and the toy depth clamp (only
    the method's own node: a fork's config has no other method's keys)."""
    node = FORKS[method][2]
    return [*TOY_CPU_OPTS, f"TRAINER.{node}.PREC", prec, *TOY_DEPTH_OPTS.get(node, [])]


def script_commands(method, seed, data, out, opts):
    """The train.py argument lists our two scripts would run (their DRY_RUN output)."""
    env = dict(os.environ, DATA=str(data), OUTPUT=str(out), DRY_RUN="1")
    commands = []
    for step in ("base2new_train", "base2new_test"):
        script = REPO / "scripts" / method / f"{step}.sh"
        done = subprocess.run(["bash", str(script), DATASET, str(seed), *opts], env=env,
                              capture_output=True, text=True, cwd=REPO, check=True)
        words = shlex.split(done.stdout.strip().splitlines()[-1])
        commands.append(words[2:])  # drop "python3 train.py"
    return commands


def to_fork(args, fork):
    """Our config paths become the fork's files of the same name (configs/...), or the one
    ``FORK_CONFIGS`` names; then what our file sets that the fork's lacks leads the opts."""
    args = list(args)
    carried = []
    for flag in ("--config-file", "--dataset-config-file"):
        index = args.index(flag) + 1
        relative = Path(args[index]).relative_to(REPO / "configs")
        if relative.as_posix() in FORK_CONFIGS:
            carried = carried_opts(args[index])
            relative = Path(FORK_CONFIGS[relative.as_posix()])
        fork_file = fork / "configs" / relative
        if not fork_file.is_file():
            raise FileNotFoundError(f"{fork_file}: the fork has no {relative} for {flag}")
        args[index] = str(fork_file)
    first_opt = next((i for i, word in enumerate(args) if CONFIG_KEY.fullmatch(word)), len(args))
    return args[:first_opt] + carried + args[first_opt:]


def carried_opts(path):
    """KEY VALUE pairs of our config that a mapped fork file lacks: its OPTIM.MAX_EPOCH and its
    TRAINER.ATPROMPT keys (upstream's scripts pass them on the command line). Also our
    TRAIN.PRINT_FREQ (ATPrompt's baseline files log less often than ours): logging only, so
    that the step-by-step check compares the same logged steps. The opts that follow, the
    script's and the user's, still win."""
    import yaml

    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    pairs = ["OPTIM.MAX_EPOCH", str(data["OPTIM"]["MAX_EPOCH"])]
    if "PRINT_FREQ" in data.get("TRAIN", {}):
        pairs += ["TRAIN.PRINT_FREQ", str(data["TRAIN"]["PRINT_FREQ"])]
    for key, value in (data.get("TRAINER", {}).get("ATPROMPT") or {}).items():
        pairs += [f"TRAINER.ATPROMPT.{key}", str(value)]
    return pairs


def given_words_args(method, opts):
    """(runner flags, train.py opts) that keep explicitly given attribute words in upstream
    ATPrompt: its table replaces the words of every dataset it lists (Caltech101's are shape,
    size) and keeps them for any other, so the fork's own Caltech101 class runs under an alias
    name (the runner's ``--dataset-alias``). Ours keeps given words anyway. Nothing without
    ``TRAINER.ATPROMPT.ATT1_TEXT`` in the opts, or for a method that is not ATPrompt's."""
    if not method.endswith("_atp") or "TRAINER.ATPROMPT.ATT1_TEXT" not in opts:
        return [], []
    import yaml

    with open(REPO / "configs" / "datasets" / f"{DATASET}.yaml", encoding="utf-8") as f:
        name = yaml.safe_load(f)["DATASET"]["NAME"]
    alias = f"{name}{GIVEN_WORDS_SUFFIX}"
    return ["--dataset-alias", f"{alias}={name}"], ["DATASET.NAME", alias]


def run_upstream_job(method, seed, world, out, opts, upstream_root):
    """Train on base and test on new with the fork's own code; returns the exit status."""
    fork, dassl = fork_paths(method, upstream_root)
    weights = Path(world) / MODEL_FILE
    log_dir = Path(out) / "jobs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    alias_flags, alias_opts = given_words_args(method, opts)
    with open(log_dir / f"{method}_upstream_seed{seed}.log", "w") as log:
        for args in script_commands(method, seed, Path(world) / DATA_FOLDER, out, opts):
            command = [sys.executable, str(RUNNER), "--fork", str(fork), "--dassl", str(dassl),
                       "--weights", str(weights), *alias_flags, "--", *to_fork(args, fork),
                       *alias_opts]
            log.write("running: " + shlex.join(command) + "\n")
            log.flush()
            done = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            if done.returncode != 0:
                return done.returncode
    return 0


def mirror_data_root(source, target):
    """A data root for our runs: the world's images and split files linked, and its own empty
    ``split_fewshot``, so that ours draws its few-shot samples instead of reading upstream's
    pickles (which ours would otherwise prefer)."""
    source, target = Path(source).resolve(), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        link = target / entry.name
        if entry.is_dir():
            link.mkdir(exist_ok=True)
            for child in entry.iterdir():
                if child.name != "split_fewshot" and not (link / child.name).exists():
                    (link / child.name).symlink_to(child)
        elif not link.exists():
            link.symlink_to(entry)
    return target


def fewshot_lines(world, out, seeds, shots=16):
    """Per seed: do upstream's pickle and our JSON hold the same few-shot images, in order?"""
    import launch.registration  # noqa: F401  (datasets/ needs an engine behind `import dassl`)
    from datasets.coop_format import load_json_file
    from datasets.upstream_cache import read_datum_pickle

    def rows(items):
        return [(Path(r[0]).parent.name, Path(r[0]).name, int(r[1])) for r in items]

    ours_root, up_root = Path(out) / "ours_data", Path(world) / DATA_FOLDER
    cells = []
    for seed in seeds:
        stem = f"shot_{shots}-seed_{seed}"
        pickles = sorted(up_root.glob(f"*/split_fewshot/{stem}.pkl"))
        caches = sorted(ours_root.glob(f"*/split_fewshot/{stem}.json"))
        if not pickles or not caches:
            cells.append(f"seed {seed}: -")
            continue
        up = read_datum_pickle(str(pickles[0]), ("train", "val"))
        ours = load_json_file(str(caches[0]), "few-shot cache")
        same = all(rows(up[k]) == rows(ours[k]) for k in ("train", "val"))
        cells.append(f"seed {seed}: {'same' if same else 'differ'}")
    return ["- few-shot samples, upstream's pickle vs our own draw: " + ", ".join(cells)]


def arm_jobs(method, seeds, world, out, opts, prec, upstream_root, arms=ARMS):
    """(label, thunk) for every run of one method: all upstream seeds first, so that two runs
    drawing the same seed's few-shot cache never overlap (later runs only read it)."""
    common = [*shared_opts(method, prec), *opts]
    ours = [*toy_opts(world), *common]
    out = Path(out)
    data = out / "ours_data"
    makers = {
        "upstream": lambda s: run_upstream_job(method, s, world, out / "upstream", common,
                                               upstream_root),
        "ours": lambda s: run_job(method, s, world, out / "ours", ours, "", data=data),
        "ours_single_seed": lambda s: run_job(method, s, world, out / "ours",
                                              [*ours, *SINGLE_SEED_OPTS], SINGLE_SEED_TAG,
                                              data=data),
    }
    return [((arm, method, seed), lambda arm=arm, seed=seed: makers[arm](seed))
            for arm in ARMS if arm in arms for seed in seeds]


def arm_results(out, method, seeds):
    """{arm: {seed: (base, new)}} read back from the runs' logs."""
    trainer = trainer_name(method)
    out = Path(out)
    return {
        "upstream": read_results(out / "upstream", trainer, seeds),
        "ours": read_results(out / "ours", trainer, seeds),
        "ours_single_seed": read_results(out / "ours", trainer, seeds, SINGLE_SEED_TAG),
    }


def train_log_lines(out, method, seed, arm):
    """The 'epoch [' lines of one arm's training log for a seed ([] if there is none)."""
    root = Path(out) / ("upstream" if arm == "upstream" else "ours")
    tag = SINGLE_SEED_TAG if arm == "ours_single_seed" else ""
    logs = run_logs(root, trainer_name(method), "train_base", seed, tag)
    if not logs:
        return []
    return [ln for ln in logs[-1].read_text().splitlines() if ln.startswith("epoch [")]


def last_loss_line(out, method, seed, arm):
    """The last logged step of a training log, as :func:`logged_loss` reads it."""
    lines = train_log_lines(out, method, seed, arm)
    return logged_loss(lines[-1]) if lines else None


def step_seconds(out, method, seeds, arm):
    """Mean over seeds of the last logged running average of the step time (``time v (avg)``:
    the last epoch's mean seconds per training step)."""
    values = []
    for seed in seeds:
        lines = train_log_lines(out, method, seed, arm)
        match = STEP_TIME.search(lines[-1]) if lines else None
        if match:
            values.append(float(match.group(1)))
    return sum(values) / len(values) if values else None


def step_time_lines(out, method, seeds):
    """Seconds per training step, upstream against ours, measured in the same audit."""
    up, ours = (step_seconds(out, method, seeds, arm) for arm in ("upstream", "ours"))
    if up is None or ours is None:
        return []
    return [f"- seconds per training step (last epoch, mean of seeds; one thread per run, two "
            f"runs at a time): upstream {up:.3f}, ours {ours:.3f} ({up / ours:.1f}× faster)"]


def logged_loss(line):
    """'epoch [e/E] batch [b/B] loss v (avg)' of a training log line: the fields both
    codebases print (the timings differ between any two runs, and our CoCoOp also logs acc)."""
    match = LOSS_LINE.search(line)
    head = line.split(" time ")[0]
    return f"{head} loss {match.group(1)} ({match.group(2)})" if match else head


def agreement(a, b):
    """(difference of means, allowed) for two lists of per-seed values; allowed is twice the
    standard error of the difference (at least 0.1, the logs' precision)."""
    a = [v for v in a if v is not None]
    b = [v for v in b if v is not None]
    if len(a) < 2 or len(b) < 2:
        return None, None
    var = sum(statistics.variance(x) / len(x) for x in (a, b))
    return statistics.mean(a) - statistics.mean(b), max(2 * math.sqrt(var), 0.1)


def verdict_lines(results, seeds):
    """Markdown bullets: ours and ours_single_seed against upstream, base, new and HM."""
    from parse_test_res import harmonic_mean

    def column(arm, index):
        values = []
        for seed in seeds:
            pair = results[arm].get(seed, (None, None))
            if index < 2:
                values.append(pair[index])
            else:
                values.append(harmonic_mean(*pair) if None not in pair else None)
        return values

    lines = []
    for arm in ("ours", "ours_single_seed"):
        parts = []
        for index, name in enumerate(("base", "new", "HM")):
            diff, allowed = agreement(column(arm, index), column("upstream", index))
            if diff is None:
                parts.append(f"{name}: too few results")
                continue
            word = "agrees" if abs(diff) <= allowed else "DIFFERS"
            parts.append(f"{name} {diff:+.1f} (allowed ±{allowed:.1f}, {word})")
        lines.append(f"- {arm} − upstream: " + "; ".join(parts))
    return lines


def trajectory_lines(out, method, seeds):
    """Per seed: does ours_single_seed end on upstream's last logged loss, to the digit?"""
    same = []
    for seed in seeds:
        up = last_loss_line(out, method, seed, "upstream")
        ours = last_loss_line(out, method, seed, "ours_single_seed")
        same.append("-" if up is None or ours is None else ("same" if up == ours else "differs"))
    cells = ", ".join(f"seed {s}: {v}" for s, v in zip(seeds, same))
    return [f"- last logged training step, ours_single_seed vs upstream: {cells}"]


def method_report(out, method, seeds):
    results = arm_results(out, method, seeds)
    rows = {f"{trainer_name(method)} {arm}": results[arm] for arm in ARMS}
    text = report(rows, seeds, trainer_name(method))
    return text + "\n" + "\n".join(verdict_lines(results, seeds) +
                                   trajectory_lines(out, method, seeds) +
                                   step_time_lines(out, method, seeds)) + "\n"


def audit(world, methods, seeds, out, upstream_root, jobs=2, opts=(), prec="fp32", run=True,
          arms=ARMS):
    """Run the arms of every method, ``jobs`` at a time (``run=False``: only read the logs
    already there); returns (markdown, failures). The report covers all three arms."""
    failures = []
    if run:
        for method in methods:
            fork_paths(method, upstream_root)
        mirror_data_root(Path(world) / DATA_FOLDER, Path(out) / "ours_data")
        todo = [job for m in methods for job in arm_jobs(m, seeds, world, out, list(opts), prec,
                                                          upstream_root, arms)]
        with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
            codes = list(pool.map(lambda job: job[1](), todo))
        failures = [f"{arm} {m} seed {s} (exit {c})"
                    for ((arm, m, s), _), c in zip(todo, codes) if c != 0]
    text = "\n".join(method_report(out, m, seeds) for m in methods)
    return text + "\n".join(fewshot_lines(world, out, seeds)) + "\n", failures
