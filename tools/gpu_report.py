"""Every GPU figure docs/benchmarks.md still lacks, from one call, as one markdown report.

Whoever has a CUDA machine runs ``python tools/gpu_report.py --out gpu_report.md`` (random
ViT-B/16 weights, no download, no dataset; about 8 minutes on one H100/H200) and pastes the
report into docs/benchmarks.md. Each section is one documented command of tools/benchmark.py
or tools/bench_eval.py, run in this same process, and the report shows that command above its
table, so any figure can be reproduced alone. Sections left when ``--budget`` seconds have
passed are listed as skipped, never silently dropped.

``--tiny`` runs the same sections end to end on the CPU in well under a minute (tiny CLIP, a
few classes, one step; compiled sections time one trainer with the ``eager`` backend, as
tracing alone is slow on a CPU): the test suite runs it.
"""

import argparse
import contextlib
import io
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dassl_fallback import ensure_dassl  # noqa: E402

ensure_dassl()

import torch  # noqa: E402

from benchmarking import evaluation as bench_eval  # noqa: E402
from benchmarking import steps as benchmark  # noqa: E402

B2N = "--classes 500 --novel 500"
# (title, tool, arguments): the figures the issues ask for, cheapest first within a theme
SECTIONS = [
    ("Step time and peak memory: ours vs upstream-equivalent, SAR / baseline (500 + 500)",
     benchmark, f"--trainers CoOp CoOp_SAR KgCoOp KgCoOp_SAR {B2N} --compare"),
    ("TRAINER.SHARED_PREFIX: text tower forward + backward at 1000 ImageNet names, on vs off",
     benchmark, "textenc --class-counts 1000 --n-ctx 16 4 --prec bf16 --paths shared per-class "
     "--bucket-overhead 0 64 1024 inf"),
    ("TRAINER.SHARED_PREFIX: CoOp_SAR whole step at 500 + 500, on vs off", benchmark,
     f"--trainers CoOp_SAR {B2N} --per-class"),
    ("Step time and peak memory: CoCoOp and MaPLe", benchmark,
     f"--trainers CoCoOp CoCoOp_SAR MaPLe MaPLe_SAR {B2N} --compare"),
    ("Step time and peak memory: PromptSRC", benchmark,
     f"--trainers PromptSRC PromptSRC_SAR {B2N} --compare"),
    ("Saved-for-backward bytes and TRAINER.TEXT_CHECKPOINT: CoOp, KgCoOp", benchmark,
     f"--trainers CoOp CoOp_SAR KgCoOp KgCoOp_SAR {B2N} --text-checkpoint"),
    ("Saved-for-backward bytes and TRAINER.TEXT_CHECKPOINT: MaPLe at ImageNet scale", benchmark,
     "--trainers MaPLe MaPLe_SAR --classes 1000 --novel 100 --bank shipped --batch 4 "
     "--text-checkpoint"),
    ("Evaluation pass at 1000 classes: text once, feature cache, upstream-equivalent",
     bench_eval, "passes --classes 1000 --batch 100 --test-images 50000"),
    ("Evaluation: test() with the feature cache off, cold and hit (synthetic EuroSAT)",
     bench_eval, "cache --arch ViT-B/16 --steps 3"),
    ("Text path: FLOP rate as a share of the matmul rate", benchmark,
     "textenc --class-counts 100 500 1000 --prec bf16"),
    ("fp16 and amp", benchmark, "--trainers CoOp MaPLe --classes 500 --prec fp16"),
    ("amp", benchmark, "--trainers CoOp MaPLe --classes 500 --prec amp"),
    ("TRAINER.COMPILE reduce-overhead, launch-bound regime (100 + 100)", benchmark,
     "--trainers CoOp CoOp_SAR --classes 100 --novel 100 --compile reduce-overhead"),
    ("TRAINER.COMPILE default at 500 classes", benchmark,
     "--trainers CoOp CoCoOp MaPLe --classes 500 --compile default"),
]
TINY_STEPS = ["--steps", "1", "--warmup", "1"]
SCRIPTS = {benchmark: "benchmark", bench_eval: "bench_eval"}  # the program a command names


def section_argv(arguments, tiny, steps=10):
    """The section's command line; ``--tiny`` keeps its shape on the tiny CLIP and the CPU."""
    argv = arguments.split()
    if not tiny:
        return argv if "--steps" in argv else argv + ["--steps", str(steps)]
    argv = [a if a != "reduce-overhead" else "default" for a in argv]
    if "--compile" in argv:  # tracing dominates on the CPU: one trainer, no code generation
        start = argv.index("--trainers") + 1
        end = next(i for i in range(start, len(argv)) if argv[i].startswith("--"))
        argv = [*argv[:start], argv[start], *argv[end:], "--compile-backend", "eager"]
    if argv[0] == "cache":
        argv = [a for a in argv if a not in ("--arch", "ViT-B/16")]
    return argv + ["--tiny", *TINY_STEPS]


def run_section(tool, argv):
    """(printed output, seconds) of one tool call in this process."""
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        tool.main(argv)
    return out.getvalue(), time.perf_counter() - start


def tables_only(output):
    """The tool's header lines and tables, without the trainers' build chatter."""
    keep = [line for line in output.splitlines()
            if line.startswith(("|", "device:", "One pass", "CoOp trainer.test()"))]
    return "\n".join(keep)


def environment():
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu (no CUDA)"
    return (f"device: {device}; torch {torch.__version__}; Python {platform.python_version()}; "
            f"{os.cpu_count()} CPUs")


def report(args):
    lines = ["# GPU figures (tools/gpu_report.py)", "", environment(), ""]
    start = time.perf_counter()
    for title, tool, arguments in SECTIONS:
        argv = section_argv(arguments, args.tiny, args.steps)
        command = f"python tools/{SCRIPTS[tool]}.py {' '.join(argv)}"
        lines += [f"## {title}", "", f"`{command}`", ""]
        if time.perf_counter() - start > args.budget:
            lines += ["skipped: the time budget (--budget) was spent before this section", ""]
            continue
        output, seconds = run_section(tool, argv)
        lines += [tables_only(output), "", f"({seconds:.0f} s)", ""]
        print(f"{title}: {seconds:.1f} s", file=sys.stderr)
    lines.append(f"Total: {time.perf_counter() - start:.0f} s")
    text = "\n".join(lines) + "\n"
    tmp = args.out + ".part"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, args.out)
    return text


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu_report.md", help="markdown report to write")
    parser.add_argument("--budget", type=float, default=450,
                        help="seconds after which the remaining sections are skipped")
    parser.add_argument("--steps", type=int, default=10,
                        help="timed steps (repetitions) per row, where a section sets none")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke run of every section")
    return parser.parse_args(argv)


def main(argv=None):
    return report(parse_args(argv))


if __name__ == "__main__":
    main()
