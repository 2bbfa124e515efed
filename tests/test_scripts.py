"""The experiment scripts: wrappers, scripts/_lib.sh, the runner and the Slurm template.

Most tests run the real bash scripts with a stub in place of `python train.py` (PYTHON points
at it) and a temporary config root, so they need neither trainers nor data. The last test runs
the whole base-to-new pipeline with the real train.py on the synthetic data root and the tiny
CLIP; it skips until those exist.
"""

import csv
import io
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(REPO, "scripts")
TRAINERS = [
    "ZeroshotCLIP",
    "CoOp",
    "CoCoOp",
    "KgCoOp",
    "MaPLe",
    "PromptSRC",
    "CoOp_SAR",
    "CoCoOp_SAR",
    "KgCoOp_SAR",
    "MaPLe_SAR",
    "PromptSRC_SAR",
    "CoOp_ATP",
    "CoCoOp_ATP",
    "KgCoOp_ATP",
    "MaPLe_ATP",
    "PromptSRC_ATP",
    "CoOp_ATP_SAR",
    "CoCoOp_ATP_SAR",
    "KgCoOp_ATP_SAR",
    "MaPLe_ATP_SAR",
    "PromptSRC_ATP_SAR",
]
STEPS = ["base2new_train", "base2new_test", "xd_train", "xd_test", "fewshot"]
DATASETS = [
    "imagenet",
    "caltech101",
    "oxford_pets",
    "stanford_cars",
    "oxford_flowers",
    "food101",
    "fgvc_aircraft",
    "sun397",
    "dtd",
    "eurosat",
    "ucf101",
]
DG = ["imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r"]
ENV_KNOBS = [
    "DATA",
    "OUTPUT",
    "PYTHON",
    "CONFIG_ROOT",
    "EXP_TAG",
    "LOADEP",
    "DRY_RUN",
    "FEATURE_CACHE",
    "DATASETS",
    "SEEDS",
    "SHOTS",
    "STAGE",
    "METHOD",
    "PROTOCOL",
    "TABLE_FORMAT",
    "REPO",
    "SLURM_ARRAY_TASK_ID",
]

# Stands in for `python train.py ...`: records the call, and writes what train.py would (a log
# with the end line and an accuracy, and the last checkpoint) so that skipping, loading and the
# table can be checked. Any other script (parse_test_res.py) runs with the real interpreter.
STUB = textwrap.dedent(
    """\
    import json, os, sys, time
    argv = sys.argv[1:]
    if not argv or argv[0] != "train.py":
        os.execv({python!r}, [{python!r}] + argv)
    args = argv[1:]
    def value(flag):
        return args[args.index(flag) + 1]
    out, seed, trainer = value("--output-dir"), int(value("--seed")), value("--trainer")
    dataset = os.path.basename(value("--dataset-config-file"))[: -len(".yaml")]
    start = time.time()
    time.sleep(float(os.environ.get("STUB_SLEEP", "0")))
    with open(os.environ["STUB_RECORD"], "a") as f:
        f.write(json.dumps({{"argv": argv, "cwd": os.getcwd(), "start": start, "end": time.time(),
                            "gpu": os.environ.get("CUDA_VISIBLE_DEVICES")}}) + "\\n")
    if os.environ.get("STUB_FAIL") in ("1", dataset):
        sys.exit(3)
    epochs = int(args[args.index("OPTIM.MAX_EPOCH") + 1]) if "OPTIM.MAX_EPOCH" in args else 3
    os.makedirs(out, exist_ok=True)
    flags, i = {{"eval_only": False}}, 0  # train.py's "** Arguments **" block, for the skip check
    while i < len(args) and args[i].startswith("--"):
        if args[i] == "--eval-only":
            flags["eval_only"], i = True, i + 1
        else:
            flags[args[i][2:].replace("-", "_")], i = args[i + 1], i + 2
    flags["opts"] = args[i:]
    head = "** Arguments **\\n" + "".join("%s: %s\\n" % (k, flags[k]) for k in sorted(flags))
    head += "************\\n"
    acc = 40 + seed + len(dataset) + 3 * trainer.endswith("_SAR")
    if "--eval-only" in args:
        text = "=> result\\n* accuracy: %.1f%%\\n" % acc
    else:
        acc += 20.5
        os.makedirs(os.path.join(out, "prompt_learner"), exist_ok=True)
        open(os.path.join(out, "prompt_learner", "model.pth.tar-%d" % epochs), "w").close()
        text = "epoch [1/1] batch [1/1]\\n* accuracy: 1.0%%\\nFinish training\\n"
        text += "=> result\\n* accuracy: %.1f%%\\n" % acc
    with open(os.path.join(out, "log.txt"), "w") as f:
        f.write(head + text)
    """
)


@pytest.fixture
def configs(tmp_path):
    """A config root with the files the scripts look up (train.py never reads them here)."""
    root = tmp_path / "configs"
    (root / "datasets").mkdir(parents=True)
    for name in DATASETS + DG:
        (root / "datasets" / f"{name}.yaml").write_text(f'DATASET:\n  NAME: "{name}"\n')
    epochs = {
        "CoOp": {"vit_b16_ctxv1": 200, "vit_b16_ep50_ctxv1": 50, "vit_b16": None, "rn50": 200,
                 "rn50_ep50": 50},
        "CoCoOp": {"vit_b16_c4_ep10_batch1_ctxv1": 10},
        "KgCoOp": {"vit_b16_ep100_ctxv1": 100},
        "MaPLe": {"vit_b16_c2_ep5_batch4_2ctx": 5, "vit_b16_c2_ep5_batch4_2ctx_cross_datasets": 2},
        "PromptSRC": {"vit_b16_c2_ep20_batch4_4+4ctx": 20,
                      "vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets": 20,
                      "vit_b16_c2_ep50_batch4_4+4ctx_few_shot": 50},
    }
    for trainer, cfgs in epochs.items():
        for suffix in ("", "_SAR"):
            folder = root / "trainers" / (trainer + suffix)
            folder.mkdir(parents=True, exist_ok=True)
            for cfg, ep in cfgs.items():
                optim = "" if ep is None else f"OPTIM:\n  NAME: sgd\n  MAX_EPOCH: {ep}  # epochs\n"
                (folder / f"{cfg}.yaml").write_text(
                    "DATALOADER:\n  TRAIN_X:\n    BATCH_SIZE: 32\n" + optim + "TRAIN:\n  X: 1\n"
                )
    return root


@pytest.fixture
def env(tmp_path, configs):
    """Environment for the scripts: stub python, temporary data, output and config roots."""
    stub = tmp_path / "stub_train.py"
    stub.write_text(STUB.format(python=sys.executable))
    (tmp_path / "data").mkdir()
    e = {k: v for k, v in os.environ.items() if k not in ENV_KNOBS}
    e.update(
        DATA=str(tmp_path / "data"),
        OUTPUT=str(tmp_path / "output"),
        CONFIG_ROOT=str(configs),
        PYTHON=f"{sys.executable} {stub}",
        STUB_RECORD=str(tmp_path / "calls.jsonl"),
    )
    return e


def bash(script, *args, env, check=None, cwd=REPO):
    proc = subprocess.run(
        ["bash", os.path.join(SCRIPTS, script), *map(str, args)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check is not None:
        assert proc.returncode == check, proc.stdout + proc.stderr
    return proc


def records(env):
    """What the stub recorded per train.py call (argv, start and end time, CUDA_VISIBLE_DEVICES),
    in the order the calls ended (then forgets them)."""
    path = env["STUB_RECORD"]
    if not os.path.exists(path):
        return []
    with open(path) as f:
        out = [json.loads(line) for line in f]
    os.remove(path)
    for call in out:
        assert call["cwd"] == REPO
        assert call["argv"][0] == "train.py"
    return out


def calls(env):
    """The train.py argument lists the stub received, oldest first (then forgets them)."""
    return [c["argv"][1:] for c in records(env)]


def flag(args, name):
    return args[args.index(name) + 1] if name in args else None


def opts_of(args):
    """train.py's trailing KEY VALUE opts: everything after the last --flag and its value."""
    last = max(i for i, a in enumerate(args) if a.startswith("--"))
    return args[last + (1 if args[last] == "--eval-only" else 2) :]


# --- the scripts themselves -------------------------------------------------------------------


def all_shell_scripts():
    for folder, _, files in os.walk(SCRIPTS):
        for name in files:
            if name.endswith(".sh"):
                yield os.path.join(folder, name)


def test_every_script_parses():
    scripts = list(all_shell_scripts())
    assert len(scripts) >= len(TRAINERS) * len(STEPS) + 3
    for path in scripts:
        proc = subprocess.run(["bash", "-n", path], capture_output=True, text=True)
        assert proc.returncode == 0, f"{path}: {proc.stderr}"


@pytest.mark.parametrize("trainer", TRAINERS)
def test_wrappers_are_thin_and_name_their_trainer(trainer):
    for step in STEPS:
        path = os.path.join(SCRIPTS, trainer.lower(), f"{step}.sh")
        assert os.path.isfile(path) and os.access(path, os.X_OK), path
        with open(path) as f:
            lines = f.read().splitlines()
        assert len(lines) <= 3 and lines[0] == "#!/usr/bin/env bash"
        assert f'../_lib.sh" && sar_main {trainer} {step} "$@"' in lines[-1]


def test_usage_and_argument_errors(env):
    proc = bash("coop/base2new_train.sh", "eurosat", env=env, check=2)
    assert "usage:" in proc.stderr and "DATASET SEED [KEY VALUE ...]" in proc.stderr
    proc = bash("coop/fewshot.sh", "eurosat", "1", env=env, check=2)
    assert "DATASET SEED SHOTS" in proc.stderr
    proc = bash("coop/base2new_train.sh", "eurosat", "1", "OPTIM.MAX_EPOCH", env=env, check=2)
    assert "KEY VALUE pairs" in proc.stderr
    proc = bash("coop/base2new_train.sh", "nosuch", "1", env=env, check=2)
    assert "unknown dataset 'nosuch'" in proc.stderr
    assert calls(env) == []


def test_missing_data_root_is_a_clear_error(env):
    e = dict(env)
    del e["DATA"]
    if os.path.isdir(os.path.join(REPO, "data")):
        pytest.skip("this checkout has a data/ folder, the default data root")
    proc = bash("coop/base2new_train.sh", "eurosat", "1", env=e, check=2)
    assert "DATA is not set" in proc.stderr
    assert os.path.join(REPO, "data") in proc.stderr
    e["DATA"] = "/nonexistent/datasets"
    proc = bash("coop/base2new_train.sh", "eurosat", "1", env=e, check=2)
    assert "DATA=/nonexistent/datasets is not a directory" in proc.stderr
    assert calls(env) == []


# --- the train.py calls -----------------------------------------------------------------------


def test_base2new_train_and_test_calls(env, tmp_path, configs):
    extra = ["MODEL.BACKBONE.NAME", "tiny.pt", "INPUT.SIZE", "(32, 32)", "OPTIM.MAX_EPOCH", "1"]
    bash("coop/base2new_train.sh", "eurosat", "1", *extra, env=env, check=0)
    bash("coop/base2new_test.sh", "eurosat", "1", *extra, env=env, check=0)
    train, test = calls(env)
    out = tmp_path / "output" / "base2new"
    train_dir = str(out / "train_base/eurosat/shots_16/CoOp/vit_b16_ctxv1/seed1")
    assert flag(train, "--output-dir") == train_dir
    assert flag(train, "--root") == env["DATA"]
    assert flag(train, "--seed") == "1" and flag(train, "--trainer") == "CoOp"
    assert flag(train, "--config-file") == str(configs / "trainers/CoOp/vit_b16_ctxv1.yaml")
    assert flag(train, "--dataset-config-file") == str(configs / "datasets/eurosat.yaml")
    opts = opts_of(train)
    assert opts[-6:] == extra  # the user's opts come last, "(32, 32)" as one argument
    assert opts[opts.index("DATASET.NUM_SHOTS") + 1] == "16"
    assert opts[opts.index("DATASET.SUBSAMPLE_CLASSES") + 1] == "base"
    assert "--eval-only" not in train

    assert flag(test, "--output-dir") == train_dir.replace("train_base", "test_new")
    assert "--eval-only" in test and flag(test, "--model-dir") == train_dir
    assert flag(test, "--load-epoch") == "1"  # follows the OPTIM.MAX_EPOCH override
    opts = opts_of(test)
    assert opts[opts.index("DATASET.SUBSAMPLE_CLASSES") + 1] == "new" and opts[-6:] == extra


def test_test_loads_the_last_epoch_of_its_config(env, tmp_path):
    for seed in ("1", "2"):
        bash("coop_sar/base2new_train.sh", "dtd", seed, env=env, check=0)  # stub: epoch 3
    calls(env)
    # The config says 200 epochs; no checkpoint 200 exists: a clear error, nothing run.
    proc = bash("coop_sar/base2new_test.sh", "dtd", "1", env=env, check=2)
    assert "no checkpoint for epoch 200" in proc.stderr and "model.pth.tar-3" in proc.stderr
    ckpt = tmp_path / "output/base2new/train_base/dtd/shots_16/CoOp_SAR/vit_b16_ctxv1/seed1"
    (ckpt / "prompt_learner" / "model.pth.tar-200").touch()
    bash("coop_sar/base2new_test.sh", "dtd", "1", env=env, check=0)
    bash("coop_sar/base2new_test.sh", "dtd", "2", env={**env, "LOADEP": "3"}, check=0)
    first, second = calls(env)
    assert flag(first, "--load-epoch") == "200" and flag(second, "--load-epoch") == "3"
    # Testing before training names the script to run first.
    proc = bash("coop_sar/base2new_test.sh", "eurosat", "1", env=env, check=2)
    assert "run scripts/coop_sar/base2new_train.sh eurosat 1 first" in proc.stderr


def test_imagenet_and_per_trainer_facts(env):
    dry = {**env, "DRY_RUN": "1"}

    def dry_args(script, *args):
        proc = bash(script, *args, env=dry, check=0)
        return shlex.split(proc.stdout.strip().splitlines()[-1])[3:]  # drop "python stub train.py"

    args = dry_args("coop/base2new_test.sh", "imagenet", "1")
    assert flag(args, "--config-file").endswith("trainers/CoOp/vit_b16_ep50_ctxv1.yaml")
    assert flag(args, "--load-epoch") == "50"
    args = dry_args("kgcoop/base2new_train.sh", "dtd", "1")
    assert opts_of(args)[opts_of(args).index("TRAINER.COOP.W") + 1] == "8.0"
    args = dry_args("maple_sar/xd_test.sh", "dtd", "2")
    assert "/MaPLe_SAR/vit_b16_c2_ep5_batch4_2ctx_cross_datasets_16shots/dtd/seed2" in flag(
        args, "--output-dir"
    )
    assert flag(args, "--load-epoch") == "2"
    args = dry_args("cocoop/fewshot.sh", "dtd", "3", "4")
    assert flag(args, "--output-dir").endswith("fewshot/dtd/shots_4/CoCoOp/"
                                               "vit_b16_c4_ep10_batch1_ctxv1/seed3")  # fmt: skip
    assert opts_of(args)[opts_of(args).index("DATASET.NUM_SHOTS") + 1] == "4"
    args = dry_args("coop/xd_train.sh", "2")
    assert flag(args, "--output-dir").endswith(
        "output/imagenet/CoOp/vit_b16_ep50_ctxv1_16shots/seed2"
    )
    args = dry_args("promptsrc/xd_train.sh", "1")
    assert flag(args, "--config-file").endswith(
        "trainers/PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets.yaml")
    for dataset, gpa in (("dtd", ["45", "5"]), ("food101", [])):  # the paper's few-shot GPA
        opts = opts_of(dry_args("promptsrc_sar/fewshot.sh", dataset, "1", "16"))
        assert [opts[i + 1] for i, key in enumerate(opts) if "GPA" in key] == gpa
    args = dry_args("coop_sar/base2new_train.sh", "dtd", "1")
    assert flag(args, "--trainer") == "CoOp_SAR"
    tagged = bash("coop_sar/base2new_train.sh", "dtd", "1", env={**dry, "EXP_TAG": "w2"}, check=0)
    assert "/CoOp_SAR/vit_b16_ctxv1_w2/seed1" in tagged.stdout
    assert calls(env) == []


def test_zero_shot_clip_only_evaluates(env, tmp_path):
    bash("zeroshotclip/base2new_train.sh", "dtd", "1", env=env, check=0)
    bash("zeroshotclip/base2new_test.sh", "dtd", "1", env=env, check=0)
    bash("zeroshotclip/xd_test.sh", "eurosat", "1", env=env, check=0)
    base, new, xd = calls(env)
    for args in (base, new, xd):
        assert "--eval-only" in args and "--model-dir" not in args and "--load-epoch" not in args
        assert flag(args, "--config-file").endswith("/vit_b16.yaml")
    assert "/base2new/train_base/dtd/shots_16/ZeroshotCLIP/vit_b16/seed1" in flag(
        base, "--output-dir"
    )
    assert opts_of(base)[-2:] == ["DATASET.SUBSAMPLE_CLASSES", "base"]
    assert opts_of(new)[-2:] == ["DATASET.SUBSAMPLE_CLASSES", "new"]
    assert "DATASET.SUBSAMPLE_CLASSES" not in xd


def test_skip_if_the_output_exists(env, tmp_path):
    bash("coop/base2new_train.sh", "eurosat", "1", env=env, check=0)
    assert len(calls(env)) == 1
    proc = bash("coop/base2new_train.sh", "eurosat", "1", env=env, check=0)
    assert "results exist at" in proc.stderr and "skipping" in proc.stderr
    assert calls(env) == []
    # A folder without a finished run (e.g. a crash) is run again.
    unfinished = tmp_path / "output/base2new/train_base/dtd/shots_16/CoOp/vit_b16_ctxv1/seed1"
    unfinished.mkdir(parents=True)
    (unfinished / "log.txt").write_text("epoch [1/200] batch [1/5]\n* accuracy: 3.0%\n")
    proc = bash("coop/base2new_train.sh", "dtd", "1", env=env, check=0)
    assert "holds no finished run" in proc.stderr and len(calls(env)) == 1
    # Test folders count as done once they hold an accuracy line.
    bash("coop/base2new_test.sh", "eurosat", "1", "OPTIM.MAX_EPOCH", "3", env=env, check=0)
    proc = bash("coop/base2new_test.sh", "eurosat", "1", "OPTIM.MAX_EPOCH", "3", env=env, check=0)
    assert len(calls(env)) == 1 and "skipping" in proc.stderr


def test_a_finished_run_of_other_options_is_never_taken_for_this_one(env, tmp_path):
    """Issue 24 item 3.2: skip-if-done used to skip on any finished run in the folder, so a
    5-epoch request was answered with the 50-epoch numbers."""
    opts = ["OPTIM.MAX_EPOCH", "50", "OPTIM.LR", "0.01"]
    bash("coop/base2new_train.sh", "eurosat", "1", *opts, env=env, check=0)
    bash("coop/base2new_test.sh", "eurosat", "1", *opts, env=env, check=0)
    assert len(calls(env)) == 2
    # The same options (a feature cache changes no number) are done; the order of the opts or a
    # repeated key that ends on the same value does not matter.
    same = ["OPTIM.LR", "0.5", "OPTIM.MAX_EPOCH", "50", "OPTIM.LR", "0.01"]
    for step in ("base2new_train", "base2new_test"):
        proc = bash(f"coop/{step}.sh", "eurosat", "1", *same,
                    env={**env, "FEATURE_CACHE": str(tmp_path / "fc")}, check=0)
        assert "skipping" in proc.stderr and calls(env) == []
    run = tmp_path / "output/base2new/train_base/eurosat/shots_16/CoOp/vit_b16_ctxv1/seed1"
    for step, wanted in (("base2new_train", "OPTIM.MAX_EPOCH: there 50, asked 5"),
                         ("base2new_test", "--load-epoch: there 50, asked 5")):
        proc = bash(f"coop/{step}.sh", "eurosat", "1", "OPTIM.MAX_EPOCH", "5", "OPTIM.LR", "0.01",
                    env=env, check=2)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and wanted in lines[0] and "skipping" not in lines[0]
        assert "delete that folder" in lines[0] and "EXP_TAG=<name>" in lines[0]
        assert calls(env) == []
    # A missing opt, another seed in the record, a log that records nothing: all refused.
    proc = bash("coop/base2new_train.sh", "eurosat", "1", "OPTIM.MAX_EPOCH", "50", env=env, check=2)
    assert "OPTIM.LR: there 0.01, asked (not set)" in proc.stderr
    log = (run / "log.txt").read_text()
    (run / "log.txt").write_text(log.replace("seed: 1", "seed: 7"))
    proc = bash("coop/base2new_train.sh", "eurosat", "1", *opts, env=env, check=2)
    assert "--seed: there 7, asked 1" in proc.stderr
    (run / "log.txt").write_text(log[log.index("epoch ["):])
    proc = bash("coop/base2new_train.sh", "eurosat", "1", *opts, env=env, check=2)
    assert "records no train.py arguments" in proc.stderr and calls(env) == []
    # The way out the line gives: EXP_TAG runs these options into a folder of their own.
    bash("coop/base2new_train.sh", "eurosat", "1", "OPTIM.MAX_EPOCH", "5", env={
        **env, "EXP_TAG": "ep5"}, check=0)  # fmt: skip
    assert flag(calls(env)[0], "--output-dir").endswith("/vit_b16_ctxv1_ep5/seed1")


def test_base2new_folders_name_the_shots_that_ran(env, tmp_path):
    """Issue 24 item 3.10: DATASET.NUM_SHOTS 2 used to land in shots_16 and the table's
    caption said "16 shots"."""
    e = {**env, "TABLE_FORMAT": "markdown"}
    proc = bash("run_experiments.sh", "coop", "base2new", "--datasets", "eurosat", "--seeds", "1",
                "--", "OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "2", env=e, check=0)  # fmt: skip
    train, test = calls(env)
    assert "/base2new/train_base/eurosat/shots_2/CoOp/" in flag(train, "--output-dir")
    assert flag(test, "--model-dir") == flag(train, "--output-dir")
    assert "/base2new/test_new/eurosat/shots_2/CoOp/" in flag(test, "--output-dir")
    assert opts_of(train)[-2:] == ["DATASET.NUM_SHOTS", "2"]  # the user's value wins
    assert "Base-to-new generalization, 2 shots:" in proc.stdout and "—" not in proc.stdout
    parse = [sys.executable, "parse_test_res.py", str(tmp_path / "output/base2new"), "--base2new"]
    table = subprocess.run(parse, cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "Base-to-new generalization, 2 shots:" in table  # the folder there, not 16
    bash("coop/base2new_train.sh", "eurosat", "1", env=env, check=0)
    proc = subprocess.run(parse, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "shots_2, shots_16): pick one with --shots" in proc.stderr
    bash("coop/xd_train.sh", "1", "DATASET.NUM_SHOTS", "4", env=env, check=0)
    assert flag(calls(env)[-1], "--output-dir").endswith("/CoOp/vit_b16_ep50_ctxv1_4shots/seed1")


COOP_EXP = "rn50_4shots/nctx16_cscFalse_ctpend"


def test_coop_main_runs_upstreams_few_shot_protocol(env, tmp_path, configs):
    """scripts/coop/main.sh DATASET CFG CTP NCTX SHOTS CSC: seeds 1 2 3 into CoOp's folders."""
    bash("coop/main.sh", "caltech101", "rn50", "end", "16", "4", "False", env=env, check=0)
    made = calls(env)
    assert [flag(a, "--seed") for a in made] == ["1", "2", "3"]
    for seed, args in enumerate(made, 1):
        assert flag(args, "--output-dir") == str(
            tmp_path / f"output/caltech101/CoOp/{COOP_EXP}/seed{seed}")
        assert flag(args, "--config-file") == str(configs / "trainers/CoOp/rn50.yaml")
        assert flag(args, "--trainer") == "CoOp" and "--eval-only" not in args
        assert opts_of(args) == ["TRAINER.COOP.N_CTX", "16", "TRAINER.COOP.CSC", "False",
                                 "TRAINER.COOP.CLASS_TOKEN_POSITION", "end",
                                 "DATASET.NUM_SHOTS", "4"]  # fmt: skip
    proc = bash("coop/main.sh", "caltech101", "rn50", "end", "16", "4", "False", env=env, check=0)
    assert proc.stderr.count("skipping") == 3 and calls(env) == []
    # An override in the extra opts shows in the folder name: settings never share a folder.
    bash("coop_sar/main.sh", "dtd", "rn50_ep50", "middle", "16", "1", "True",
         "TRAINER.COOP.N_CTX", "8", "DATASET.NUM_SHOTS", "2", env={**env, "SEEDS": "2"}, check=0)
    (args,) = calls(env)
    assert flag(args, "--output-dir") == str(
        tmp_path / "output/dtd/CoOp_SAR/rn50_ep50_2shots/nctx8_cscTrue_ctpmiddle/seed2")
    assert flag(args, "--config-file") == str(configs / "trainers/CoOp_SAR/rn50_ep50.yaml")
    bad = [(("front", "16", "4", "Yes"), "CSC (class-specific context) must be True or False"),
           (("left", "16", "4", "False"), "must be end, middle or front, got 'left'"),
           (("end", "0", "4", "False"), "NCTX (context tokens) must be a positive integer"),
           (("end", "16", "x", "False"), "SHOTS must be a positive integer, got 'x'")]
    for args, message in bad:
        proc = bash("coop/main.sh", "dtd", "rn50", *args, env=env, check=2)
        assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = bash("coop/main.sh", "dtd", "rn51", "end", "16", "4", "False", env=env, check=2)
    assert "CoOp/rn51.yaml (known: rn50 rn50_ep50 vit_b16" in proc.stderr
    proc = bash("coop/main.sh", "dtd", "rn50", "end", env=env, check=2)
    assert "usage:" in proc.stderr and "DATASET CFG CTP NCTX SHOTS CSC" in proc.stderr
    assert calls(env) == []


def test_coop_eval_tests_the_imagenet_model_on_another_dataset(env, tmp_path):
    """scripts/coop/eval.sh DATASET CFG: upstream's cross-dataset evaluation."""
    proc = bash("coop/eval.sh", "oxford_pets", "rn50_ep50", env=env, check=2)
    exp = "rn50_ep50_16shots/nctx16_cscFalse_ctpend"
    assert f"no trained model at {tmp_path}/output/imagenet/CoOp/{exp}/seed1" in proc.stderr
    assert "run scripts/coop/main.sh imagenet rn50_ep50 end 16 16 False first" in proc.stderr
    bash("coop/main.sh", "imagenet", "rn50_ep50", "end", "16", "16", "False", "OPTIM.MAX_EPOCH",
         "50", env=env, check=0)  # the stub's checkpoint: the config's last epoch
    trained = calls(env)
    bash("coop/eval.sh", "oxford_pets", "rn50_ep50", env=env, check=0)
    made = calls(env)
    assert [flag(a, "--seed") for a in made] == ["1", "2", "3"]
    for seed, (args, train) in enumerate(zip(made, trained), 1):
        assert flag(args, "--model-dir") == flag(train, "--output-dir")
        assert flag(args, "--output-dir") == str(
            tmp_path / f"output/evaluation/CoOp/{exp}/oxford_pets/seed{seed}")
        assert flag(args, "--load-epoch") == "50" and "--eval-only" in args
        assert "caltech101" not in args and opts_of(args) == [
            "TRAINER.COOP.N_CTX", "16", "TRAINER.COOP.CSC", "False",
            "TRAINER.COOP.CLASS_TOKEN_POSITION", "end"]  # fmt: skip
    proc = bash("coop/eval.sh", "oxford_pets", "rn50_ep50", env=env, check=0)
    assert proc.stderr.count("skipping") == 3 and calls(env) == []


def upstream_reading(directory):
    """The seed results upstream's parse_test_res.py would read from DIRECTORY: every folder in
    it must hold log.txt; a value counts after a line that is exactly "Finish training" (or
    "=> result" for a test log) and matches `* accuracy: <number>%`."""
    results = {}
    for seed in sorted(os.listdir(directory)):
        with open(os.path.join(directory, seed, "log.txt")) as f:
            lines = [line.strip() for line in f]
        end = "Finish training" if "Finish training" in lines else "=> result"
        after = lines[lines.index(end):]
        values = [re.search(r"\* accuracy: ([\.\deE+-]+)%", line) for line in after]
        results[seed] = [float(m.group(1)) for m in values if m][-1]
    return results


def test_parsers_read_the_coop_protocol_folders(env, tmp_path):
    """Ours and upstream's reading rule find the same numbers in main.sh's and eval.sh's
    folders: DIR for one setting's seeds, --multi-exp over evaluation/ targets."""
    bash("coop/main.sh", "imagenet", "rn50_ep50", "end", "16", "16", "False", "OPTIM.MAX_EPOCH",
         "50", env=env, check=0)  # the stub's checkpoint: the config's last epoch
    for target in ("oxford_pets", "dtd"):
        bash("coop/eval.sh", target, "rn50_ep50", env=env, check=0)
    setting = tmp_path / "output/imagenet/CoOp/rn50_ep50_16shots/nctx16_cscFalse_ctpend"
    evaluation = tmp_path / "output/evaluation/CoOp/rn50_ep50_16shots/nctx16_cscFalse_ctpend"
    parse = [sys.executable, "parse_test_res.py"]
    ours = subprocess.run([*parse, str(setting)], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    seeds = upstream_reading(setting)
    mean = statistics.fmean(seeds.values())
    assert list(seeds) == ["seed1", "seed2", "seed3"]
    assert f"* accuracy: {mean:.2f}% +- {statistics.pstdev(seeds.values()):.2f}%" in ours
    ours = subprocess.run([*parse, str(evaluation), "--multi-exp", "--test-log"], cwd=REPO,
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    for target in ("oxford_pets", "dtd"):
        seeds = upstream_reading(evaluation / target)
        assert len(seeds) == 3
        assert f"{statistics.fmean(seeds.values()):.2f}" in ours


def test_a_failing_train_py_fails_the_script(env):
    proc = bash("coop/fewshot.sh", "dtd", "1", "2", env={**env, "STUB_FAIL": "1"})
    assert proc.returncode == 3


# --- runner and Slurm template ----------------------------------------------------------------


def runner_list(env, *args):
    proc = bash("run_experiments.sh", *args, "--list", env=env, check=0)
    return proc.stdout.splitlines()


def test_runner_job_lists(env):
    assert runner_list(env, "coop_sar", "base2new") == [
        f"{d} {s}" for d in DATASETS for s in (1, 2, 3)
    ]
    two = runner_list(env, "CoOp_SAR", "base2new", "--datasets", "eurosat,dtd", "--seeds", "1 2")
    assert two == ["eurosat 1", "eurosat 2", "dtd 1", "dtd 2"]
    xd = runner_list(env, "maple", "xd")
    assert xd[:3] == ["imagenet 1", "imagenet 2", "imagenet 3"]
    assert xd[3:] == [f"{d} {s}" for d in DATASETS[1:] for s in (1, 2, 3)]
    assert runner_list(env, "maple", "dg", "--stage", "test") == [
        f"{d} {s}" for d in DG for s in (1, 2, 3)
    ]
    assert runner_list(env, "maple", "dg", "--stage", "train", "--seeds", "4") == ["imagenet 4"]
    e = {**env, "DATASETS": "dtd", "SEEDS": "7"}
    assert runner_list(e, "coop", "fewshot") == ["dtd 7"]
    count = bash("run_experiments.sh", "coop", "xd", "--count", env=env, check=0)
    assert count.stdout.strip() == "33"
    proc = bash("run_experiments.sh", "nosuch", "base2new", "--list", env=env, check=2)
    assert "unknown method 'nosuch'" in proc.stderr
    proc = bash("run_experiments.sh", "coop", "nosuch", "--list", env=env, check=2)
    assert "unknown protocol 'nosuch'" in proc.stderr


SLURM_CASES = [
    {"METHOD": "coop_sar", "PROTOCOL": "base2new"},
    {"METHOD": "maple_sar", "PROTOCOL": "xd"},
    {"METHOD": "maple_sar", "PROTOCOL": "xd", "STAGE": "test", "SEEDS": "1,2"},
    {"METHOD": "kgcoop", "PROTOCOL": "dg", "STAGE": "train"},
    {"METHOD": "coop", "PROTOCOL": "fewshot", "DATASETS": "dtd eurosat", "SHOTS": "4"},
]


@pytest.mark.parametrize("case", SLURM_CASES, ids=lambda c: "-".join(c.values()))
def test_slurm_template_picks_the_runners_jobs(env, case):
    slurm = os.path.join(SCRIPTS, "slurm_array.sh")
    assert subprocess.run(["bash", "-n", slurm]).returncode == 0
    text = open(slurm).read()
    assert "#SBATCH" in text and "sar_job_list" in text and "SLURM_ARRAY_TASK_ID" in text
    e = {**env, **case}
    jobs = runner_list(e, case["METHOD"], case["PROTOCOL"])
    assert jobs
    picked = []
    for i in range(len(jobs)):
        proc = bash("slurm_array.sh", env={**e, "SLURM_ARRAY_TASK_ID": str(i), "DRY_RUN": "1"})
        assert proc.returncode == 0, proc.stderr
        picked.append(slurm_task_job(proc))
    assert picked == jobs
    proc = bash("slurm_array.sh", env={**e, "SLURM_ARRAY_TASK_ID": str(len(jobs))}, check=2)
    assert f"the list has {len(jobs)} jobs" in proc.stderr
    # Run from another folder, as sbatch does with its copy, it finds the repo by REPO.
    proc = bash("slurm_array.sh", env={**e, "SLURM_ARRAY_TASK_ID": "0", "DRY_RUN": "1",
                                       "REPO": REPO}, cwd="/")  # fmt: skip
    assert slurm_task_job(proc) == jobs[0]
    assert calls(env) == []


def slurm_task_job(proc):
    """The "DATASET SEED" a dry-run task names on stderr; its stdout holds the commands only,
    one train.py call per step, as DRY_RUN prints them for every script."""
    match = re.search(r"== task \d+ of \d+: \S+ \S+ (\S+) seed (\d+)", proc.stderr)
    assert match, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines and all(" train.py --root " in line for line in lines), proc.stdout
    return f"{match.group(1)} {match.group(2)}"


def test_slurm_task_runs_its_job(env, tmp_path):
    e = {**env, "METHOD": "coop", "PROTOCOL": "base2new", "DATASETS": "dtd,eurosat", "SEEDS": "5"}
    bash("slurm_array.sh", "OPTIM.MAX_EPOCH", "2", env={**e, "SLURM_ARRAY_TASK_ID": "1"}, check=0)
    train, test = calls(env)
    assert flag(train, "--seed") == "5" and "/train_base/eurosat/" in flag(train, "--output-dir")
    assert flag(test, "--load-epoch") == "2" and opts_of(test)[-2:] == ["OPTIM.MAX_EPOCH", "2"]


def log_accuracy(run_dir, after_end):
    """The `* accuracy` of a run folder's newest log, read independently of the parser."""
    names = sorted(n for n in os.listdir(run_dir) if n.startswith("log.txt"))
    newest = names[-1] if len(names) > 1 else "log.txt"  # log.txt-<time> sorts after log.txt
    value, ended = None, False
    with open(os.path.join(run_dir, newest)) as f:
        for line in f:
            if re.search(r"Finish(ed)? training", line):
                ended, value = True, None
            match = re.search(r"\* accuracy: ([\d.]+)%", line)
            if match and (ended or not after_end):
                value = float(match.group(1))
    assert value is not None, run_dir
    return value


def check_table(csv_text, output, methods, datasets, seeds, shots=16):
    """The table's numbers against the logs: per-dataset means, HM, the Average row."""
    rows = {(r["method"], r["dataset"]): r for r in csv.DictReader(io.StringIO(csv_text))}
    names = {"eurosat": "EuroSAT", "dtd": "DTD", "imagenet": "ImageNet"}
    for trainer, cfg in methods:
        bases, news = [], []
        for ds in datasets:
            tail = os.path.join(ds, f"shots_{shots}", trainer, cfg)
            base = statistics.fmean(
                log_accuracy(os.path.join(output, "train_base", tail, f"seed{s}"), True)
                for s in seeds
            )
            new = statistics.fmean(
                log_accuracy(os.path.join(output, "test_new", tail, f"seed{s}"), False)
                for s in seeds
            )
            row = rows[trainer, names[ds]]
            assert float(row["base"]) == pytest.approx(base, abs=1e-3)
            assert float(row["new"]) == pytest.approx(new, abs=1e-3)
            hm = 2 * base * new / (base + new) if base + new else 0.0
            assert float(row["hm"]) == pytest.approx(hm, abs=1e-3)
            assert row["complete"] == "True"
            bases.append(base)
            news.append(new)
        avg = rows[trainer, "Average"]
        b, n = statistics.fmean(bases), statistics.fmean(news)
        assert float(avg["base"]) == pytest.approx(b, abs=1e-3)
        assert float(avg["new"]) == pytest.approx(n, abs=1e-3)
        assert float(avg["hm"]) == pytest.approx(2 * b * n / (b + n) if b + n else 0.0, abs=1e-3)


def test_runner_runs_train_then_test_and_ends_with_the_table(env, tmp_path):
    e = {**env, "TABLE_FORMAT": "csv"}
    args = ["coop_sar", "base2new", "--datasets", "eurosat dtd", "--seeds", "1,2"]
    proc = bash("run_experiments.sh", *args, "--", "OPTIM.MAX_EPOCH", "1", env=e, check=0)
    made = calls(env)
    assert len(made) == 8
    assert ["--eval-only" in a for a in made] == [False, True] * 4  # train, then its test
    assert [flag(a, "--seed") for a in made[:4:2]] == ["1", "2"]
    output = str(tmp_path / "output" / "base2new")
    check_table(proc.stdout, output, [("CoOp_SAR", "vit_b16_ctxv1")], ["eurosat", "dtd"], [1, 2])
    # Everything exists now: a second run skips every job, and --job runs one job only.
    proc = bash("run_experiments.sh", *args, "--", "OPTIM.MAX_EPOCH", "1", env=e, check=0)
    assert calls(env) == [] and proc.stderr.count("skipping") == 8
    # Other options never get the old numbers: each training stops on one line saying why.
    proc = bash("run_experiments.sh", *args, "--", "OPTIM.MAX_EPOCH", "5", env=e, check=1)
    assert calls(env) == [] and "skipping" not in proc.stderr
    assert proc.stderr.count("other options (OPTIM.MAX_EPOCH: there 1, asked 5)") == 4
    job = ["coop", "base2new", "--datasets", "dtd", "--job", "2", "OPTIM.MAX_EPOCH", "1"]
    bash("run_experiments.sh", *job, env=e, check=0)
    assert [flag(a, "--seed") for a in calls(env)] == ["3", "3"]
    proc = bash("run_experiments.sh", "coop", "base2new", "--job", "33", env=e, check=2)
    assert "out of range" in proc.stderr


def test_runner_table_for_a_config_name_with_a_plus(env):
    """PromptSRC's vit_b16_c2_ep20_batch4_4+4ctx: the parser splits column patterns on "+"."""
    e = {**env, "TABLE_FORMAT": "csv"}
    proc = bash("run_experiments.sh", "promptsrc", "base2new", "--datasets", "dtd", "--seeds",
                "1", "--", "OPTIM.MAX_EPOCH", "1", env=e, check=0)  # fmt: skip
    row = next(r for r in csv.DictReader(io.StringIO(proc.stdout)) if r["dataset"] == "DTD")
    assert row["config"] == "PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx" and row["hm"] != ""


def test_runner_reports_failed_jobs(env):
    e = {**env, "STUB_FAIL": "1"}
    proc = bash("run_experiments.sh", "coop", "xd", "--datasets", "dtd", "--seeds", "1", env=e)
    assert proc.returncode == 1
    assert "2 job(s) failed:\n  imagenet seed 1 (job 1/2)\n  dtd seed 1 (job 2/2)" in proc.stderr


def test_runner_dry_run_prints_commands(env):
    proc = bash("run_experiments.sh", "maple", "dg", "--seeds", "1", "--dry-run", env=env, check=0)
    lines = [line for line in proc.stdout.splitlines() if "train.py" in line]
    assert len(lines) == 1 + len(DG) and calls(env) == []


def test_dataset_names_are_checked_before_counting_or_listing(env):
    for mode in ("--count", "--list"):
        proc = bash("run_experiments.sh", "coop_sar", "base2new", "--datasets", "eurosta", mode,
                    env=env, check=2)  # fmt: skip
        assert "unknown dataset 'eurosta'" in proc.stderr and "eurosat" in proc.stderr
        assert proc.stdout == ""
    proc = bash("run_experiments.sh", "maple", "xd", "--datasets", "dtd,nope", "--count", env=env)
    assert proc.returncode == 2 and "unknown dataset 'nope'" in proc.stderr


def test_dry_run_needs_no_data_root(env):
    if os.path.isdir(os.path.join(REPO, "data")):
        pytest.skip("this checkout has a data/ folder, the default data root")
    e = {k: v for k, v in env.items() if k != "DATA"}
    proc = bash("coop/base2new_train.sh", "eurosat", "1", env={**e, "DRY_RUN": "1"}, check=0)
    assert f"--root {os.path.join(REPO, 'data')} " in proc.stdout
    proc = bash("run_experiments.sh", "coop", "base2new", "--datasets", "dtd", "--seeds", "1",
                "--dry-run", env={**e, "DATA": "no/such/root"}, check=0)  # fmt: skip
    assert proc.stdout.count(" train.py ") == 2 and f"--root {REPO}/no/such/root " in proc.stdout
    assert calls(env) == []


def test_relative_paths_are_the_callers(env, tmp_path):
    scratch = tmp_path / "scratch"
    (scratch / "syn").mkdir(parents=True)
    (scratch / "my.pt").write_bytes(b"")
    e = {**env, "DATA": "syn", "OUTPUT": "out"}
    opts = ["MODEL.BACKBONE.NAME", "my.pt", "MODEL.INIT_WEIGHTS", "init.pth",
            "TRAINER.SAR.NOVEL_SOURCE", "llm", "INPUT.SIZE", "(32, 32)"]
    bash("coop_sar/base2new_train.sh", "eurosat", "1", *opts, env=e, check=0, cwd=scratch)
    bash("coop_sar/base2new_train.sh", "dtd", "1", "MODEL.BACKBONE.NAME", "ViT-B/16", env=e,
         check=0, cwd=scratch)  # fmt: skip
    first, second = calls(env)
    assert flag(first, "--root") == str(scratch / "syn")
    assert flag(first, "--output-dir").startswith(str(scratch / "out" / "base2new") + "/")
    assert opts_of(first)[-8:] == [
        "MODEL.BACKBONE.NAME", str(scratch / "my.pt"), "MODEL.INIT_WEIGHTS",
        str(scratch / "init.pth"), "TRAINER.SAR.NOVEL_SOURCE", "llm", "INPUT.SIZE", "(32, 32)"]
    assert opts_of(second)[-2:] == ["MODEL.BACKBONE.NAME", "ViT-B/16"]  # a name, not a file
    # CONFIG_ROOT and a path in PYTHON too: relative to the caller, absolute for train.py.
    configs = os.path.relpath(env["CONFIG_ROOT"], scratch)
    python = f"{sys.executable} {os.path.relpath(tmp_path / 'stub_train.py', scratch)}"
    bash("coop/fewshot.sh", "dtd", "1", "2", env={**e, "CONFIG_ROOT": configs, "PYTHON": python},
         check=0, cwd=scratch)  # fmt: skip
    (third,) = calls(env)
    config_file = flag(third, "--config-file")
    assert os.path.isabs(config_file) and os.path.normpath(config_file) == os.path.join(
        env["CONFIG_ROOT"], "trainers", "CoOp", "vit_b16_ctxv1.yaml")


def test_grid_gives_each_point_its_tag_and_one_table(env, tmp_path):
    grid = ["--grid", "TRAINER.SAR.WEIGHT=0.5,2", "--grid", "TRAINER.SAR.ROWS=all,novel"]
    proc = bash("run_experiments.sh", "coop_sar", "base2new", "--datasets", "eurosat",
                "--seeds", "1", *grid, "--", "OPTIM.MAX_EPOCH", "1", env=env, check=0)
    made = calls(env)
    assert len(made) == 8 and ["--eval-only" in a for a in made] == [False, True] * 4
    tags = ["weight0.5_rowsall", "weight0.5_rowsnovel", "weight2_rowsall", "weight2_rowsnovel"]
    for i, tag in enumerate(tags):
        train, test = made[2 * i : 2 * i + 2]
        assert flag(train, "--output-dir").endswith(f"/CoOp_SAR/vit_b16_ctxv1_{tag}/seed1")
        assert flag(test, "--model-dir") == flag(train, "--output-dir")
        weight, rows = tag[len("weight"):].split("_rows")
        assert opts_of(train)[-6:] == ["OPTIM.MAX_EPOCH", "1", "TRAINER.SAR.WEIGHT", weight,
                                       "TRAINER.SAR.ROWS", rows]  # fmt: skip
    table = [line for line in proc.stdout.splitlines() if line.startswith("|")]
    assert [c.strip() for c in table[0].split("|")[1:-1]] == [
        "Method", "EuroSAT Base", "EuroSAT New", "EuroSAT HM"]
    labels = [line.split("|")[1].strip() for line in table[2:]]
    assert labels == ["TRAINER.SAR.WEIGHT=0.5 TRAINER.SAR.ROWS=all",
                      "TRAINER.SAR.WEIGHT=0.5 TRAINER.SAR.ROWS=novel",
                      "TRAINER.SAR.WEIGHT=2 TRAINER.SAR.ROWS=all",
                      "TRAINER.SAR.WEIGHT=2 TRAINER.SAR.ROWS=novel"]  # fmt: skip
    assert all("—" not in line for line in table)
    # EXP_TAG prefixes every point's tag; bad specs and --count with a grid are refused.
    e = {**env, "EXP_TAG": "abl", "DRY_RUN": "1"}
    proc = bash("run_experiments.sh", "coop_sar", "base2new", "--datasets", "dtd", "--seeds", "1",
                "--stage", "train", "--grid", "TRAINER.SAR.WEIGHT=3", env=e, check=0)
    assert "/vit_b16_ctxv1_abl_weight3/seed1" in proc.stdout
    bad_specs = ("WEIGHT", "TRAINER.SAR.WEIGHT=", "trainer.sar.weight=1,2",
                 "TRAINER.SAR.WEIGHT=1,,2", "TRAINER.SAR.WEIGHT=1.0,2.0,")
    for bad in bad_specs:
        proc = bash("run_experiments.sh", "coop_sar", "base2new", "--grid", bad, env=env)
        assert proc.returncode == 2, bad
        assert proc.stderr.startswith(f"error: --grid '{bad}'") or "--grid" in proc.stderr
    proc = bash("run_experiments.sh", "coop_sar", "base2new", "--grid", "TRAINER.SAR.WEIGHT=1,2",
                "--count", env=env, check=2)  # fmt: skip
    assert "for Slurm, submit an array per point" in proc.stderr


def test_grid_reruns_refuse_other_options_and_pool_logs_are_appended(env, tmp_path):
    """Issue 24 item 3.2 for --grid and the pool: a grid point's finished run is only reused for
    the same options, and a job's pool log keeps what earlier runs wrote."""
    grid = ["coop_sar", "base2new", "--datasets", "eurosat", "--seeds", "1",
            "--grid", "TRAINER.SAR.WEIGHT=0.5,2", "--gpus", "0 1"]  # fmt: skip
    bash("run_experiments.sh", *grid, "--", "OPTIM.MAX_EPOCH", "1", env=env, check=0)
    assert len(calls(env)) == 4
    logs = sorted((tmp_path / "output/logs/CoOp_SAR/base2new").rglob("*.log"))
    before = [path.read_text() for path in logs]
    assert len(logs) == 2 and all("running:" in text for text in before)
    proc = bash("run_experiments.sh", *grid, "--", "OPTIM.MAX_EPOCH", "2", env=env, check=1)
    assert calls(env) == [] and "2 job(s) failed" in proc.stderr
    for path, text in zip(logs, before):
        now = path.read_text()
        assert now.startswith(text)  # appended, never truncated
        assert "other options (OPTIM.MAX_EPOCH: there 1, asked 2)" in now[len(text):]
    bash("run_experiments.sh", *grid, "--", "OPTIM.MAX_EPOCH", "1", env=env, check=0)
    assert calls(env) == [] and all(p.read_text().count("skipping") == 2 for p in logs)


def most_at_once(made):
    """The most train.py calls that ran at the same time."""
    events = sorted([(c["start"], 1) for c in made] + [(c["end"], -1) for c in made])
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def test_gpu_pool_pins_jobs_keeps_going_and_reports_failures(env, tmp_path):
    e = {**env, "STUB_SLEEP": "0.3", "STUB_FAIL": "dtd"}
    args = ["coop", "base2new", "--datasets", "eurosat dtd", "--seeds", "1 2 3",
            "--gpus", "0 1", "--per-gpu", "2", "--", "OPTIM.MAX_EPOCH", "1"]
    proc = bash("run_experiments.sh", *args, env=e)
    assert proc.returncode == 1
    made = records(env)
    assert {c["gpu"] for c in made} == {"0", "1"}
    assert 2 <= most_at_once(made) <= 4  # concurrent, at most 2 GPUs x 2 per GPU
    for gpu in ("0", "1"):
        assert most_at_once([c for c in made if c["gpu"] == gpu]) <= 2
    eurosat = [c for c in made if flag(c["argv"], "--dataset-config-file").endswith("eurosat.yaml")]
    assert len(eurosat) == 6 and len(made) == 9  # 3 trainings of dtd failed: no dtd test
    for seed in ("1", "2", "3"):
        train, test = [c for c in eurosat if flag(c["argv"], "--seed") == seed]
        assert "--eval-only" in test["argv"] and train["end"] <= test["start"]
        assert train["gpu"] == test["gpu"]  # one job, one slot
    logs = tmp_path / "output" / "logs" / "CoOp" / "base2new"
    assert sorted(p.name for p in logs.iterdir()) == [
        f"{d}_seed{s}.log" for d in ("dtd", "eurosat") for s in (1, 2, 3)]
    assert "running: " in (logs / "eurosat_seed2.log").read_text()
    assert "3 job(s) failed:" in proc.stderr
    assert f"dtd seed 2 (job 5/6) (log: {logs / 'dtd_seed2.log'})" in proc.stderr
    # Finished jobs are skipped; xd/dg tests wait for every ImageNet training.
    proc = bash("run_experiments.sh", *args, env={**e, "STUB_FAIL": ""}, check=0)
    assert len(records(env)) == 6  # only dtd's jobs run again
    assert (logs / "eurosat_seed1.log").read_text().count("skipping") == 2
    xd = ["maple", "xd", "--datasets", "dtd", "--seeds", "1 2", "--gpus", "a,b",
          "OPTIM.MAX_EPOCH", "1"]
    bash("run_experiments.sh", *xd, env={**e, "STUB_FAIL": ""}, check=0)
    made = records(env)
    trainings = [c for c in made if "--eval-only" not in c["argv"]]
    assert len(trainings) == 2 and len(made) == 4
    assert max(c["end"] for c in trainings) <= min(c["start"] for c in made if c not in trainings)
    proc = bash("run_experiments.sh", *args[:-3], "--per-gpu", "0", env=env, check=2)
    assert "--per-gpu must be a positive integer" in proc.stderr


def test_stopping_the_pool_stops_its_jobs(env, tmp_path):
    import signal
    import time

    args = ["coop", "fewshot", "--datasets", "dtd", "--seeds", "1 2", "--gpus", "0 1"]
    runner = subprocess.Popen(["bash", os.path.join(SCRIPTS, "run_experiments.sh"), *args],
                              env={**env, "STUB_SLEEP": "30"}, cwd=REPO, text=True,
                              stderr=subprocess.PIPE)  # fmt: skip
    logs = tmp_path / "output" / "logs" / "CoOp" / "fewshot"
    deadline = time.time() + 60
    while time.time() < deadline and not all(
        "running: " in (logs / f"dtd_seed{s}.log").read_text(errors="replace")
        if (logs / f"dtd_seed{s}.log").exists() else False for s in (1, 2)
    ):
        time.sleep(0.2)
    time.sleep(1)  # the stubs are asleep in train.py's place
    assert len(stubs_alive(tmp_path)) == 2
    runner.send_signal(signal.SIGTERM)
    _, err = runner.communicate(timeout=20)
    assert runner.returncode == 130 and "the running jobs were stopped" in err
    time.sleep(1)
    assert stubs_alive(tmp_path) == []  # train.py's stand-ins are gone, not only the runner
    assert records(env) == []


def stubs_alive(tmp_path):
    """Processes still running this test's train.py stub."""
    stub, alive = str(tmp_path / "stub_train.py"), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if stub.encode() in f.read():
                    alive.append(int(pid))
        except OSError:
            continue
    return alive


def test_feature_cache_reaches_every_train_py_call_of_a_sweep(env, tmp_path):
    bash("run_experiments.sh", "coop", "base2new", "--datasets", "dtd", "--seeds", "1",
         "--feature-cache", "fc", "--no-table", "--", "OPTIM.MAX_EPOCH", "1", env=env, check=0,
         cwd=tmp_path)
    bash("zeroshotclip/base2new_test.sh", "dtd", "1", env={**env, "FEATURE_CACHE": "/abs/fc"},
         check=0)
    train, test, zero_shot = calls(env)
    for args, cache in ((train, tmp_path / "fc"), (test, tmp_path / "fc"), (zero_shot, "/abs/fc")):
        assert opts_of(args)[-2:] == ["TEST.FEATURE_CACHE", str(cache)]


# --- the real configs (once they exist) -------------------------------------------------------


def test_real_configs_cover_every_trainer_and_dataset():
    """Every config the scripts name exists in configs/, a trained one with OPTIM.MAX_EPOCH."""
    trainers_dir = os.path.join(REPO, "configs", "trainers")
    if not os.path.isdir(trainers_dir) or not any(
        f.endswith(".yaml") for _, _, files in os.walk(trainers_dir) for f in files
    ):
        pytest.skip("configs/trainers is not written yet")
    script = textwrap.dedent(
        """\
        source scripts/_lib.sh
        for t in "${SAR_TRAINERS[@]}"; do
            for p in base2new fewshot xd; do
                for d in "${SAR_DATASETS[@]}" "${SAR_DG_TARGETS[@]}"; do
                    sar_dataset_file "$d"
                    sar_facts "$t" "$p" "$d"
                    ep=$(sar_max_epoch "$SAR_CONFIG_FILE")
                    echo "$t $p $d $SAR_TRAINED $SAR_CONFIG_FILE $ep"
                done
            done
        done
        """
    )
    e = {k: v for k, v in os.environ.items() if k not in ENV_KNOBS}
    proc = subprocess.run(["bash", "-c", script], cwd=REPO, env=e, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = [line.split() for line in proc.stdout.splitlines()]
    assert len(lines) == len(TRAINERS) * 3 * (len(DATASETS) + len(DG))
    for fields in lines:
        trainer, trained, path = fields[0], fields[3], fields[4]
        assert os.path.isfile(path)
        if trained == "1":
            assert len(fields) == 6 and int(fields[5]) > 0, fields
            assert f"/trainers/{trainer}/" in path or f"/trainers/{trainer[:-4]}/" in path


# Upstream CoOp's configs/trainers/CoOp/: backbone, OPTIM.MAX_EPOCH (None: rn50_val, which has
# no OPTIM node) and whether the context starts from "a photo of a" (the _ctxv1 files).
UPSTREAM_COOP_CONFIGS = {
    "rn50": ("RN50", 200, False), "rn50_ep50": ("RN50", 50, False),
    "rn50_ep100": ("RN50", 100, False), "rn50_ctxv1": ("RN50", 200, True),
    "rn50_ep50_ctxv1": ("RN50", 50, True), "rn50_val": ("RN50", None, False),
    "rn101": ("RN101", 200, False), "rn101_ep50": ("RN101", 50, False),
    "vit_b32": ("ViT-B/32", 200, False), "vit_b32_ep50": ("ViT-B/32", 50, False),
    "vit_b16": ("ViT-B/16", 200, False), "vit_b16_ep50": ("ViT-B/16", 50, False),
    "vit_b16_ep100": ("ViT-B/16", 100, False), "vit_b16_ctxv1": ("ViT-B/16", 200, True),
    "vit_b16_ep50_ctxv1": ("ViT-B/16", 50, True), "vit_b16_ep100_ctxv1": ("ViT-B/16", 100, True),
}


@pytest.mark.parametrize("trainer", ["CoOp", "CoOp_SAR"])
def test_every_upstream_coop_config_ships(trainer):
    """Issue 24 section 2: rn50_ep100, rn50_val, rn101, ... were missing, so main.sh could not
    run the CoOp paper's recipe. Each one loads through train.py's config chain."""
    import train

    for name, (backbone, epochs, ctx_init) in UPSTREAM_COOP_CONFIGS.items():
        path = os.path.join(REPO, "configs", "trainers", trainer, f"{name}.yaml")
        assert os.path.isfile(path), path
        args = train.build_parser().parse_args(
            ["--trainer", trainer, "--config-file", path, "--output-dir", "unused"])
        cfg = train.setup_cfg(args)
        assert cfg.MODEL.BACKBONE.NAME == backbone, name
        assert "normalize" in cfg.INPUT.TRANSFORMS, name  # CLIP's mean and std
        assert cfg.TRAINER.COOP.CTX_INIT == ("a photo of a" if ctx_init else None), name
        if epochs is not None:
            assert cfg.OPTIM.MAX_EPOCH == epochs and cfg.OPTIM.LR == 0.002, name


# --- end to end -------------------------------------------------------------------------------


def test_end_to_end_base2new_coop_and_coop_sar(tmp_path):
    """Real train.py, synthetic data, tiny CLIP: base2new for CoOp and CoOp_SAR on two datasets
    and two seeds, then the table checked against the logs."""
    if not os.path.isfile(os.path.join(REPO, "train.py")):
        pytest.skip("train.py is not written yet")
    pytest.importorskip("trainers.coop", reason="trainers are not written yet")
    synthetic = pytest.importorskip("datasets.synthetic")
    tiny_clip = pytest.importorskip("tools.make_tiny_clip")
    data = tmp_path / "data"
    synthetic.write_synthetic_root(str(data), datasets=["EuroSAT", "DescribableTextures"])
    ckpt = tmp_path / "tiny_clip.pt"
    ckpt = tiny_clip.write_tiny_clip(str(ckpt)) or ckpt
    e = {k: v for k, v in os.environ.items() if k not in ENV_KNOBS}
    e.update(DATA=str(data), OUTPUT=str(tmp_path / "output"), PYTHON=sys.executable)
    e["OMP_NUM_THREADS"] = "1"  # two lanes share the CPUs
    opts = [
        "MODEL.BACKBONE.NAME", ckpt, "INPUT.SIZE", "(32, 32)", "OPTIM.MAX_EPOCH", "1",
        "DATASET.NUM_SHOTS", "2", "DATALOADER.NUM_WORKERS", "0", "USE_CUDA", "False",
    ]  # fmt: skip
    datasets, seeds = ["eurosat", "dtd"], [1, 2]

    def coop_lane():  # CoOp through the per-trainer scripts...
        for ds in datasets:
            for seed in seeds:
                bash("coop/base2new_train.sh", ds, seed, *opts, env=e, check=0)
                bash("coop/base2new_test.sh", ds, seed, *opts, env=e, check=0)

    def coop_sar_lane():  # ...CoOp_SAR through the runner, which ends with its table.
        return bash(
            "run_experiments.sh", "coop_sar", "base2new", "--datasets", "eurosat dtd",
            "--seeds", "1 2", "--", *opts, env={**e, "TABLE_FORMAT": "csv"}, check=0,
        )  # fmt: skip

    # The two lanes are independent: run them side by side (most of a run is start-up).
    with ThreadPoolExecutor(max_workers=2) as pool:
        lanes = [pool.submit(coop_lane), pool.submit(coop_sar_lane)]
        proc = lanes[1].result()
        lanes[0].result()
    train_dir = tmp_path / "output/base2new/train_base/dtd/shots_2/CoOp/vit_b16_ctxv1/seed2"
    assert list(train_dir.glob("*/model.pth.tar-1")), "the last (only) epoch's checkpoint"
    again = bash("coop/base2new_train.sh", "dtd", "2", *opts, env=e, check=0)
    assert "skipping" in again.stderr
    assert "method,dataset,config,base" in proc.stdout
    output = tmp_path / "output" / "base2new"
    table = subprocess.run(
        [sys.executable, "parse_test_res.py", str(output), "--base2new", "--format", "csv"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    methods = [("CoOp", "vit_b16_ctxv1"), ("CoOp_SAR", "vit_b16_ctxv1")]
    check_table(table, str(output), methods, datasets, seeds, shots=2)


def test_end_to_end_coop_protocol_on_a_random_resnet(tmp_path):
    """Real train.py, synthetic EuroSAT, a tiny random ResNet CLIP (CoOp's backbone family):
    main.sh for CoOp (two seeds) and CoOp_SAR (one), read by our parser and upstream's rule;
    the same request skips, another one is refused."""
    synthetic = pytest.importorskip("datasets.synthetic")
    data = tmp_path / "data"
    synthetic.write_synthetic_root(str(data), datasets=["EuroSAT"], num_classes=4,
                                   images_per_class=(2, 1, 2))  # fmt: skip
    e = {k: v for k, v in os.environ.items() if k not in ENV_KNOBS}
    e.update(DATA=str(data), OUTPUT=str(tmp_path / "output"), PYTHON=sys.executable,
             OMP_NUM_THREADS="1")  # fmt: skip
    opts = ["MODEL.BACKBONE.NAME", "random:tiny-RN", "INPUT.SIZE", "(32, 32)", "OPTIM.MAX_EPOCH",
            "1", "DATALOADER.NUM_WORKERS", "0", "USE_CUDA", "False", "TRAINER.SAR.NUM_NOVEL", "4"]
    protocol = ["eurosat", "rn50", "end", "4", "2", "False"]

    def lane(method, seeds):
        return bash(f"{method}/main.sh", *protocol, *opts, env={**e, "SEEDS": seeds}, check=0)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for done in [pool.submit(lane, "coop", "1 2"), pool.submit(lane, "coop_sar", "1")]:
            done.result()
    for trainer, seeds in (("CoOp", ["seed1", "seed2"]), ("CoOp_SAR", ["seed1"])):
        setting = tmp_path / f"output/eurosat/{trainer}/rn50_2shots/nctx4_cscFalse_ctpend"
        values = upstream_reading(setting)
        assert list(values) == seeds
        ours = subprocess.run([sys.executable, "parse_test_res.py", str(setting)], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert f"* accuracy: {statistics.fmean(values.values()):.2f}%" in ours
        log = (setting / "seed1" / "log.txt").read_text()
        assert "Loading CLIP (backbone: random:tiny-RN)" in log
    again = lane("coop", "1 2")
    assert again.stderr.count("skipping") == 2
    other = bash("coop/main.sh", *protocol, *opts, "OPTIM.MAX_EPOCH", "2", env={**e, "SEEDS": "1"},
                 check=2)  # fmt: skip
    assert "other options (OPTIM.MAX_EPOCH: there 1, asked 2)" in other.stderr


def test_end_to_end_grid_on_a_pool_of_two_fake_gpus(tmp_path):
    """Real train.py, synthetic EuroSAT, tiny CLIP: a 2-point grid x 2 seeds x 1 dataset run by
    the pool on 2 fake GPU ids, ending with one table whose numbers are the logs'."""
    synthetic = pytest.importorskip("datasets.synthetic")
    tiny_clip = pytest.importorskip("tools.make_tiny_clip")
    data = tmp_path / "data"
    synthetic.write_synthetic_root(str(data), datasets=["EuroSAT"], num_classes=4,
                                   images_per_class=(2, 1, 2))  # fmt: skip
    ckpt = tiny_clip.write_tiny_clip(str(tmp_path / "tiny_clip.pt"))
    e = {k: v for k, v in os.environ.items() if k not in ENV_KNOBS}
    e.update(DATA=str(data), OUTPUT=str(tmp_path / "output"), PYTHON=sys.executable,
             OMP_NUM_THREADS="1", TABLE_FORMAT="csv")  # fmt: skip
    opts = [
        "MODEL.BACKBONE.NAME", ckpt, "INPUT.SIZE", "(32, 32)", "OPTIM.MAX_EPOCH", "1",
        "DATASET.NUM_SHOTS", "1", "DATALOADER.NUM_WORKERS", "0", "USE_CUDA", "False",
        "TRAINER.SAR.NUM_NOVEL", "4",
    ]  # fmt: skip
    proc = bash("run_experiments.sh", "coop_sar", "base2new", "--datasets", "eurosat",
                "--seeds", "1 2", "--grid", "TRAINER.SAR.WEIGHT=0.5,2", "--gpus", "0 1",
                "--", *opts, env=e, check=0)  # fmt: skip
    logs = tmp_path / "output" / "logs" / "CoOp_SAR" / "base2new"
    assert sorted(str(p.relative_to(logs)) for p in logs.rglob("*.log")) == [
        f"weight{w}/eurosat_seed{s}.log" for w in ("0.5", "2") for s in (1, 2)]
    assert proc.stderr.count("] done: eurosat seed") == 4
    rows = {r["method"]: r for r in csv.DictReader(io.StringIO(proc.stdout))
            if r["dataset"] == "EuroSAT"}  # fmt: skip
    assert sorted(rows) == ["TRAINER.SAR.WEIGHT=0.5", "TRAINER.SAR.WEIGHT=2"]
    output = tmp_path / "output" / "base2new"
    for weight in ("0.5", "2"):
        tail = os.path.join("eurosat", "shots_1", "CoOp_SAR", f"vit_b16_ctxv1_weight{weight}")
        base = [log_accuracy(str(output / "train_base" / tail / f"seed{s}"), True) for s in (1, 2)]
        new = [log_accuracy(str(output / "test_new" / tail / f"seed{s}"), False) for s in (1, 2)]
        row = rows[f"TRAINER.SAR.WEIGHT={weight}"]
        assert float(row["base"]) == pytest.approx(statistics.fmean(base), abs=1e-3)
        assert float(row["new"]) == pytest.approx(statistics.fmean(new), abs=1e-3)
        assert row["complete"] == "True"
        log = (output / "train_base" / tail / "seed1" / "log.txt").read_text()
        assert f"WEIGHT: {float(weight)}" in log  # "2" reached train.py and became 2.0


def test_scripts_run_with_the_default_python(env):
    """PYTHON unset means plain python3: the script must not stop silently on that name."""
    e = {k: v for k, v in env.items() if k != "PYTHON"}
    proc = bash("coop/base2new_train.sh", "eurosat", "1", env={**e, "DRY_RUN": "1"}, check=0)
    assert proc.stdout.startswith("python3 train.py "), proc.stderr


# --- the runner stops when told, and its jobs die with it -------------------------------------


def real_run_env(tmp_path):
    """The real train.py on a synthetic EuroSAT with the tiny CLIP; opts for a run that trains
    until it is stopped, saving a checkpoint every epoch."""
    from datasets.synthetic import write_synthetic_root
    from tools.make_tiny_clip import write_tiny_clip

    write_synthetic_root(str(tmp_path / "data"), datasets=["EuroSAT"])
    ckpt = write_tiny_clip(str(tmp_path / "tiny_clip.pt")) or str(tmp_path / "tiny_clip.pt")
    e = {k: v for k, v in os.environ.items() if k not in ENV_KNOBS}
    e.update(DATA=str(tmp_path / "data"), OUTPUT=str(tmp_path / "output"), PYTHON=sys.executable,
             OMP_NUM_THREADS="1")  # fmt: skip
    opts = ["MODEL.BACKBONE.NAME", str(ckpt), "INPUT.SIZE", "(32, 32)", "DATASET.NUM_SHOTS", "2",
            "DATALOADER.NUM_WORKERS", "0", "USE_CUDA", "False", "TRAIN.CHECKPOINT_FREQ", "1"]
    return e, opts


def start_runner(env, *args):
    """The runner in a session of its own, SIGINT at its default as in a terminal."""
    import signal

    return subprocess.Popen(
        ["bash", os.path.join(SCRIPTS, "run_experiments.sh"), *args], env=env, cwd=REPO,
        text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip


def wait_for_checkpoint(run_dir, process, timeout=180):
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        log = run_dir / "log.txt"
        if log.exists() and "Checkpoint saved" in log.read_text(errors="replace"):
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint in {run_dir} after {timeout} s")


def processes_naming(text):
    """PIDs of live (not zombie) processes whose command line holds ``text``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if text.encode() in cmdline and state != b"Z":
            found.append(int(pid))
    return found


def end_all(pids):
    import signal

    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_kill_9_of_the_pool_runner_ends_its_train_py_and_the_rerun_resumes(tmp_path):
    import signal
    import time

    e, opts = real_run_env(tmp_path)
    args = ["coop", "fewshot", "--datasets", "eurosat", "--seeds", "1", "--no-table"]
    # the folder names the shots that ran (DATASET.NUM_SHOTS 2 in the opts), not the script's 4
    run_dir = tmp_path / "output/fewshot/eurosat/shots_2/CoOp/vit_b16_ctxv1/seed1"
    runner = start_runner(e, *args, "--gpus", "0", "--", *opts, "OPTIM.MAX_EPOCH", "100000")
    try:
        wait_for_checkpoint(run_dir, runner)
        assert processes_naming(str(run_dir))
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=20)
        deadline = time.time() + 30
        while processes_naming(str(run_dir)) and time.time() < deadline:
            time.sleep(0.2)
        assert processes_naming(str(run_dir)) == [], "a train.py outlived its runner"
    finally:
        end_all(processes_naming(str(run_dir)))
    log = (tmp_path / "output/logs/CoOp/fewshot/eurosat_seed1.log").read_text()
    assert "has ended: stopping" in log and "interrupted by SIGTERM" in log
    again = bash("run_experiments.sh", *args, "--gpus", "0", "--", *opts, "OPTIM.MAX_EPOCH", "1",
                 env=e, check=0)  # fmt: skip
    assert "done: eurosat seed 1" in again.stderr
    assert "will resume training" in (tmp_path / "output/logs/CoOp/fewshot/eurosat_seed1.log"
                                      ).read_text()


def test_ctrl_c_stops_the_sequential_runner_at_once_and_the_rerun_resumes(tmp_path):
    import signal

    e, opts = real_run_env(tmp_path)
    args = ["coop", "fewshot", "--datasets", "eurosat", "--seeds", "1 2", "--no-table"]
    seed_dir = tmp_path / "output/fewshot/eurosat/shots_2/CoOp/vit_b16_ctxv1"
    runner = start_runner(e, *args, "--", *opts, "OPTIM.MAX_EPOCH", "100000")
    try:
        wait_for_checkpoint(seed_dir / "seed1", runner)
        os.killpg(runner.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        _, err = runner.communicate(timeout=90)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
        end_all(processes_naming(str(seed_dir)))
    assert runner.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("error: interrupted by SIGINT")
    assert not (seed_dir / "seed2").exists() and "job failed" not in err
    again = bash("run_experiments.sh", *args, "--seeds", "1", "--", *opts, "OPTIM.MAX_EPOCH", "1",
                 env=e, check=0)  # fmt: skip
    assert "will resume training" in again.stdout + again.stderr
