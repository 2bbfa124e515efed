"""The parity audit's plumbing: the upstream runner on a stand-in fork, and the audit's reading
of commands, logs and spreads. The audit itself (real forks, real training) is in
docs/parity.md."""

import json
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest
import torch

from tools.parity import audit
from tools.parity.audit import (
    agreement,
    fork_paths,
    logged_loss,
    script_commands,
    to_fork,
    trajectory_lines,
)

REPO = Path(__file__).resolve().parents[1]
RUNNER = REPO / "tools" / "parity" / "upstream_run.py"

FORK_TRAIN = """
import json, sys
import torch
from torch.optim import lr_scheduler
from clip import clip, model_atp
import dassl, datasets

class Warmup(lr_scheduler.LRScheduler):
    def __init__(self, optimizer):
        super().__init__(optimizer, -1, False)  # Dassl's positional verbose
    def get_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]

path = clip._download("https://example.invalid/abc123/ViT-B-16.pt")
weights = torch.load(path, map_location="cpu")
model = clip.build_model(weights)
atp = model_atp.build_model(weights)  # ATPrompt's second builder (MaPLe_ATP)
checkpoint = torch.load(sys.argv[2], map_location="cpu")
Warmup(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))
json.dump({"weights": path, "value": float(model.w.sum()), "dtype": str(model.w.dtype),
           "atp": [float(atp.w.sum()), str(atp.w.dtype)],
           "dassl": dassl.__file__, "datasets": datasets.__file__,
           "ctx": float(checkpoint["state_dict"]["ctx"].sum()),
           "cuda": str(torch.zeros(1).cuda().device),
           "half": [str(torch.tensor([1 / 3]).half().dtype), float(torch.tensor([1 / 3]).half())]},
          open(sys.argv[1], "w"))
"""


def stand_in_fork(root):
    """A fork's shape (train.py, clip/, datasets/) and a Dassl checkout, none of upstream's."""
    fork, dassl = root / "fork", root / "dassl_checkout"
    (fork / "clip").mkdir(parents=True)
    (fork / "datasets").mkdir()
    (dassl / "dassl").mkdir(parents=True)
    (fork / "train.py").write_text(textwrap.dedent(FORK_TRAIN))
    (fork / "clip" / "__init__.py").write_text("")
    builder = textwrap.dedent("""
        import torch

        def build_model(state):  # as OpenAI's: cast to fp16 first, then load
            model = torch.nn.Module()
            model.w = torch.nn.Parameter(torch.zeros(3))
            model.half()
            model.w.data.copy_(state["w"])
            return model
        """)
    (fork / "clip" / "clip.py").write_text(builder + textwrap.dedent("""
        def _download(url, root=None):
            raise RuntimeError('no network')
        """))
    (fork / "clip" / "model_atp.py").write_text(builder)
    (fork / "datasets" / "__init__.py").write_text("")
    (dassl / "dassl" / "__init__.py").write_text("")
    return fork, dassl


def test_upstream_runner_runs_a_fork_on_local_weights(tmp_path):
    fork, dassl = stand_in_fork(tmp_path)
    weights = tmp_path / "toy.pt"
    torch.save({"w": torch.full((3,), 1 / 3), "n": torch.tensor([7])}, weights)
    checkpoint = tmp_path / "model.pth.tar-1"  # Dassl pickles objects: weights_only refuses
    torch.save({"state_dict": {"ctx": torch.full((2,), 2.0)},
                "scheduler": {"successor": defaultdict(int, a=2)}}, checkpoint)
    result = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, str(RUNNER), "--fork", str(fork), "--dassl", str(dassl),
         "--weights", str(weights), "--", str(result), str(checkpoint)],
        cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    seen = json.loads(result.read_text())
    assert seen["weights"] == str(weights)
    # the fp16 load rounds the weights, as upstream's does
    assert seen["value"] == pytest.approx(3 * float(torch.tensor(1 / 3).half()), abs=0)
    assert seen["value"] != pytest.approx(1.0, abs=1e-7)
    if not torch.cuda.is_available():
        assert seen["dtype"] == "torch.float32"  # but the model comes back in fp32
        assert seen["atp"] == [seen["value"], "torch.float32"]  # so from ATPrompt's builder
    assert Path(seen["dassl"]).is_relative_to(dassl)  # not our dassl_fallback
    assert Path(seen["datasets"]).is_relative_to(fork)  # not our datasets/
    assert seen["ctx"] == 4.0  # the tensors come back; the objects stay inert
    if not torch.cuda.is_available():
        assert seen["cuda"] == "cpu"
        # fp16's rounding, fp32's dtype
        assert seen["half"] == ["torch.float32", float(torch.tensor([1 / 3]).half().float())]
        assert seen["half"][1] != float(torch.tensor([1 / 3]))


def test_upstream_runner_names_a_missing_path(tmp_path):
    fork, dassl = stand_in_fork(tmp_path)
    done = subprocess.run(
        [sys.executable, str(RUNNER), "--fork", str(fork), "--dassl", str(dassl),
         "--weights", str(tmp_path / "absent.pt"), "--"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "--weights" in done.stderr and "absent.pt" in done.stderr


def test_fork_paths_names_the_missing_checkout(tmp_path):
    with pytest.raises(FileNotFoundError, match="KgCoOp/KgCoOp/train.py"):
        fork_paths("kgcoop", tmp_path)
    with pytest.raises(ValueError, match="no upstream fork known for 'coop_sar'"):
        fork_paths("coop_sar", tmp_path)


def test_script_commands_are_the_scripts_own(tmp_path):
    train, test = script_commands("coop", 3, tmp_path / "data", tmp_path / "out",
                                  ["INPUT.SIZE", "(32, 32)"])
    assert train[train.index("--trainer") + 1] == "CoOp"
    assert train[train.index("--seed") + 1] == "3"
    assert train[train.index("--config-file") + 1].endswith("trainers/CoOp/vit_b16_ctxv1.yaml")
    assert train[-2:] == ["INPUT.SIZE", "(32, 32)"]
    assert "--eval-only" in test and test[test.index("--model-dir") + 1] == \
        train[train.index("--output-dir") + 1]
    assert test[test.index("DATASET.SUBSAMPLE_CLASSES") + 1] == "new"


def test_to_fork_points_the_configs_at_the_forks_files(tmp_path):
    args, _ = script_commands("cocoop", 1, tmp_path / "data", tmp_path / "out", [])
    for relative in ("trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml",
                     "datasets/caltech101.yaml"):
        (tmp_path / "configs" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "configs" / relative).write_text("")
    moved = to_fork(args, tmp_path)
    assert moved[moved.index("--config-file") + 1] == str(
        tmp_path / "configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml")
    assert [a for a in moved if "configs" not in a] == [a for a in args if "configs" not in a]
    (tmp_path / "configs/datasets/caltech101.yaml").unlink()
    with pytest.raises(FileNotFoundError, match="has no datasets/caltech101.yaml"):
        to_fork(args, tmp_path)


def test_logged_loss_keeps_only_what_both_codebases_print():
    upstream = ("epoch [50/50] batch [5/9] time 0.066 (0.055) data 0.030 (0.023) "
                "loss 1.4672 (1.4199) lr 7.8853e-06 eta 0:00:00")
    ours = ("epoch [50/50] batch [5/9] time 0.032 (0.032) data 0.022 (0.021) "
            "loss 1.4672 (1.4199) acc 40.6250 (48.1250) lr 7.8853e-06 eta 0:00:00")
    assert logged_loss(upstream) == logged_loss(ours) == \
        "epoch [50/50] batch [5/9] loss 1.4672 (1.4199)"
    assert logged_loss(ours.replace("1.4672", "1.4673")) != logged_loss(upstream)


def test_agreement_allows_twice_the_standard_error():
    diff, allowed = agreement([60, 70, 80], [61, 71, 81])
    assert diff == pytest.approx(-1.0)
    assert allowed == pytest.approx(2 * (2 * 100 / 3) ** 0.5)
    assert agreement([99.6, 99.6], [99.6, 99.6]) == (0.0, 0.1)  # the logs' precision
    assert agreement([1.0], [2.0, 3.0]) == (None, None)


def test_trajectory_lines_compare_the_last_logged_step(tmp_path, monkeypatch):
    def write(arm_root, config, seed, line):
        log = (tmp_path / arm_root / "base2new/train_base/caltech101/shots_16/CoOp" / config /
               f"seed{seed}" / "log.txt")
        log.parent.mkdir(parents=True)
        log.write_text(f"Loading\n{line}\nFinish training\n")
    step = "epoch [2/2] batch [1/1] time 1 (1) data 1 (1) loss {} ({}) lr 1e-3 eta 0:00:00"
    write("upstream", "cfg", 1, step.format(1.5, 1.6))
    write("ours", "cfg_single_seed", 1, step.format(1.5, 1.6))
    write("upstream", "cfg", 2, step.format(1.5, 1.6))
    write("ours", "cfg_single_seed", 2, step.format(1.5, 1.7))
    assert trajectory_lines(tmp_path, "coop", [1, 2, 3]) == [
        "- last logged training step, ours_single_seed vs upstream: "
        "seed 1: same, seed 2: differs, seed 3: -"]
    assert audit.SINGLE_SEED_OPTS == ["TRAIN.RESEED_EACH_EPOCH", "False"]


def test_step_time_lines_compare_the_last_epochs_mean(tmp_path):
    for arm_root, config, avg in (("upstream", "cfg", 0.9), ("ours", "cfg", 0.3)):
        log = (tmp_path / arm_root / "base2new/train_base/caltech101/shots_16/CoOp" / config /
               "seed1" / "log.txt")
        log.parent.mkdir(parents=True)
        log.write_text(f"epoch [1/1] batch [1/1] time 5.0 ({avg}) data 0.1 (0.1) "
                       "loss 1.0 (1.0) lr 1e-3 eta 0:00:00\n")
    assert audit.step_time_lines(tmp_path, "coop", [1]) == [
        "- seconds per training step (last epoch, mean of seeds; one thread per run, two runs "
        "at a time): upstream 0.900, ours 0.300 (3.0× faster)"]
    assert audit.step_time_lines(tmp_path, "coop", [2]) == []


def test_cli_keeps_key_value_pairs_apart_from_the_flags():
    from tools.parity.__main__ import build_parser, split_opts

    flags, opts = split_opts(["--world", "w", "--upstream", "u", "--out", "o", "--methods",
                              "coop", "kgcoop", "--seeds", "6", "7", "--arms", "upstream",
                              "OPTIM.MAX_EPOCH", "50", "INPUT.SIZE", "(32, 32)"])
    args = build_parser().parse_args(flags)
    assert args.methods == ["coop", "kgcoop"] and args.seeds == [6, 7]
    assert args.arms == ["upstream"] and opts == ["OPTIM.MAX_EPOCH", "50", "INPUT.SIZE", "(32, 32)"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--world", "w", "--upstream", "u", "--out", "o",
                                   "--arms", "ours,theirs"])


def test_help_shows_the_arms_as_typed_and_no_none_defaults():
    from tools.parity.__main__ import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "(default: upstream,ours,ours_single_seed)" in text and "['upstream'" not in text
    assert "(default: None)" not in text
    args = build_parser().parse_args(["--world", "w", "--upstream", "u", "--out", "o"])
    assert args.arms == ["upstream", "ours", "ours_single_seed"]


def test_to_fork_maps_atprompt_configs_to_the_baselines_files(tmp_path):
    """Upstream ATPrompt runs CoOp's vit_b16.yaml and sets the epochs and ATPROMPT keys on the
    command line: the fork gets ours, ahead of the script's opts."""
    args, _ = script_commands("coop_atp", 1, tmp_path / "data", tmp_path / "out", [])
    for relative in ("trainers/CoOp/vit_b16.yaml", "datasets/caltech101.yaml"):
        (tmp_path / "configs" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "configs" / relative).write_text("")
    moved = to_fork(args, tmp_path)
    assert moved[moved.index("--config-file") + 1] == str(
        tmp_path / "configs/trainers/CoOp/vit_b16.yaml")
    carried = ["OPTIM.MAX_EPOCH", "100", "TRAIN.PRINT_FREQ", "5",  # logged steps as ours
               "TRAINER.ATPROMPT.USE_ATPROMPT", "True"]
    first_opt = args.index("TRAINER.COOP.N_CTX")
    assert moved[first_opt:first_opt + 6] == carried
    assert moved[first_opt + 6:] == args[first_opt:]
    assert "TRAINER.ATPROMPT.N_ATT1" in moved[first_opt + 6:]


def test_stubbed_module_answers_isinstance_probes_and_raises_when_called():
    """scikit-learn's metrics (through narwhals) ask isinstance(x, pandas.DataFrame) of any
    imported pandas: a stub must answer False, and still refuse to be used."""
    from tools.parity.upstream_run import unavailable_module

    stub = unavailable_module("pandas")
    assert not isinstance([1, 2], stub.DataFrame)
    assert stub.DataFrame is stub.DataFrame
    with pytest.raises(RuntimeError, match="stubs out pandas; install it for read_csv"):
        stub.read_csv("x.csv")
    assert not hasattr(stub, "__file__")  # a module's own attributes it lacks stay absent


ALIAS_TRAIN = """
import json, sys
from dassl.data.datasets import DATASET_REGISTRY

@DATASET_REGISTRY.register()
class Caltech101:
    pass

json.dump({"alias": DATASET_REGISTRY.get("Caltech101_given_words") is Caltech101,
           "names": DATASET_REGISTRY.names()}, open(sys.argv[1], "w"))
"""
STAND_IN_REGISTRY = """
class Registry:  # Dassl's shape: register() goes through _do_register
    def __init__(self):
        self._obj_map = {}
    def _do_register(self, name, obj, force=False):
        self._obj_map[name] = obj
    def register(self, obj=None, force=False):
        def wrapper(cls):
            self._do_register(cls.__name__, cls, force=force)
            return cls
        return wrapper
    def get(self, name):
        return self._obj_map[name]
    def names(self):
        return sorted(self._obj_map)

DATASET_REGISTRY = Registry()
"""


def test_upstream_runner_registers_the_forks_dataset_under_an_alias(tmp_path):
    fork, dassl = stand_in_fork(tmp_path)
    (fork / "train.py").write_text(textwrap.dedent(ALIAS_TRAIN))
    (dassl / "dassl" / "data" / "datasets").mkdir(parents=True)
    (dassl / "dassl" / "data" / "__init__.py").write_text("")
    (dassl / "dassl" / "data" / "datasets" / "__init__.py").write_text(STAND_IN_REGISTRY)
    weights = tmp_path / "toy.pt"
    torch.save({"w": torch.zeros(3)}, weights)
    result = tmp_path / "result.json"
    base = [sys.executable, str(RUNNER), "--fork", str(fork), "--dassl", str(dassl),
            "--weights", str(weights)]
    done = subprocess.run([*base, "--dataset-alias", "Caltech101_given_words=Caltech101", "--",
                           str(result)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    seen = json.loads(result.read_text())
    assert seen == {"alias": True, "names": ["Caltech101", "Caltech101_given_words"]}
    done = subprocess.run([*base, "--dataset-alias", "Caltech101", "--", str(result)],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2 and "expected ALIAS=NAME" in done.stderr


def test_given_words_run_upstream_atprompt_under_the_alias():
    """Upstream's table would replace the words given for Caltech101; the alias keeps them."""
    words = ["TRAINER.ATPROMPT.ATT_NUM", "2", "TRAINER.ATPROMPT.ATT1_TEXT", "color"]
    flags, opts = audit.given_words_args("coop_atp", ["OPTIM.MAX_EPOCH", "50", *words])
    assert flags == ["--dataset-alias", "Caltech101_given_words=Caltech101"]
    assert opts == ["DATASET.NAME", "Caltech101_given_words"]
    assert audit.given_words_args("coop_atp", ["OPTIM.MAX_EPOCH", "50"]) == ([], [])
    assert audit.given_words_args("coop", words) == ([], [])
