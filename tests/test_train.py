"""train.py: the upstream CLI, config order, and one clear line for each kind of bad input."""

import os
import subprocess
import sys

import pytest

import train
from datasets.synthetic import write_synthetic_root
from tests.helpers import COOP, EUROSAT, ROOT, TINY_OPTS, eurosat_setup


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return eurosat_setup(tmp_path_factory, "train")


def fails_with(capsys, argv, *fragments, code=None):
    result = train.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert result != 0
    if code is not None:
        assert result == code
    assert err, "no error line printed"
    line = err[-1]
    for fragment in fragments:
        assert fragment in line, line
    return line


def test_config_order_opts_win_over_yaml(setup):
    root, clip, _ = setup
    args = train.build_parser().parse_args(
        ["--root", root, *COOP, *EUROSAT, "--output-dir", "x", "--seed", "3",
         "OPTIM.MAX_EPOCH", "7", "TRAINER.COOP.N_CTX", "8"]
    )
    cfg = train.setup_cfg(args)
    assert cfg.OPTIM.MAX_EPOCH == 7 and cfg.TRAINER.COOP.N_CTX == 8
    assert cfg.TRAINER.COOP.CTX_INIT == "a photo of a"  # from the method YAML
    assert cfg.DATASET.NAME == "EuroSAT" and cfg.SEED == 3 and cfg.DATASET.ROOT == root
    assert cfg.is_frozen()


def test_unknown_trainer_lists_registered(setup, capsys, tmp_path):
    root, clip, _ = setup
    line = fails_with(capsys, ["--root", root, "--trainer", "CoOOp", *EUROSAT,
                               "--output-dir", str(tmp_path / "o")], "CoOOp", "CoOp", code=2)
    assert "ZeroshotCLIP" in line
    assert not (tmp_path / "o").exists()


def test_unknown_key_names_the_closest(setup, capsys, tmp_path):
    root, clip, _ = setup
    fails_with(capsys, ["--root", root, *COOP, *EUROSAT, "--output-dir", str(tmp_path / "o"),
                        "OPTIM.MAX_EPOHC", "3"], "OPTIM.MAX_EPOHC", "OPTIM.MAX_EPOCH", code=2)


def test_wrong_typed_value(setup, capsys, tmp_path):
    root, clip, _ = setup
    fails_with(capsys, ["--root", root, *COOP, *EUROSAT, "--output-dir", str(tmp_path / "o"),
                        "OPTIM.MAX_EPOCH", "'ten'"], "MAX_EPOCH", code=2)


def test_missing_dataset_root_names_the_path(setup, capsys, tmp_path):
    _, clip, _ = setup
    out = tmp_path / "o"
    fails_with(capsys, ["--root", str(tmp_path / "nowhere"), *COOP, *EUROSAT, "--output-dir",
                        str(out), "MODEL.BACKBONE.NAME", clip, *TINY_OPTS],
               os.path.join(str(tmp_path / "nowhere"), "eurosat"))
    assert not out.exists()


def test_malformed_split_names_the_file(setup, capsys, tmp_path):
    _, clip, _ = setup
    root = tmp_path / "data"
    write_synthetic_root(str(root), datasets=["EuroSAT"])
    split = root / "eurosat" / "split_zhou_EuroSAT.json"
    split.write_text("{not json")
    fails_with(capsys, ["--root", str(root), *COOP, *EUROSAT, "--output-dir", str(tmp_path / "o"),
                        "MODEL.BACKBONE.NAME", clip, *TINY_OPTS], "split_zhou_EuroSAT.json")


def test_missing_clip_checkpoint(setup, capsys, tmp_path):
    root, _, _ = setup
    missing = str(tmp_path / "absent.pt")
    fails_with(capsys, ["--root", root, *COOP, *EUROSAT, "--output-dir", str(tmp_path / "o"),
                        "MODEL.BACKBONE.NAME", missing, *TINY_OPTS], missing)
    assert not (tmp_path / "o").exists()


def test_input_size_must_match_backbone(setup, capsys, tmp_path):
    root, clip, _ = setup
    fails_with(capsys, ["--root", root, *COOP, *EUROSAT, "--output-dir", str(tmp_path / "o"),
                        "MODEL.BACKBONE.NAME", clip, *TINY_OPTS, "INPUT.SIZE", "(224, 224)"],
               "INPUT.SIZE", "(32, 32)")


def test_eval_only_needs_model_dir(setup, capsys, tmp_path):
    root, clip, _ = setup
    fails_with(capsys, ["--root", root, *COOP, *EUROSAT, "--output-dir", str(tmp_path / "o"),
                        "--eval-only", "MODEL.BACKBONE.NAME", clip, *TINY_OPTS], "--model-dir")
    assert not (tmp_path / "o").exists()


def test_zero_shot_clip_evaluates(setup, tmp_path):
    root, clip, _ = setup
    out = tmp_path / "zs"
    code = train.main(["--root", root, "--trainer", "ZeroshotCLIP", *EUROSAT,
                       "--config-file", "configs/trainers/ZeroshotCLIP/vit_b16.yaml",
                       "--output-dir", str(out), "--eval-only",
                       "MODEL.BACKBONE.NAME", clip, *TINY_OPTS])
    assert code == 0
    log = (out / "log.txt").read_text()
    assert "* accuracy:" in log and "a centered satellite photo of" in log


def test_command_line_as_documented(setup, tmp_path):
    """The issue's exact commands, as a subprocess: train base, then evaluate new."""
    root, clip, _ = setup
    out = tmp_path / "cli"
    common = [sys.executable, "train.py", "--root", root, "--trainer", "CoOp", *EUROSAT,
              "--config-file", "configs/trainers/CoOp/vit_b16_ctxv1.yaml", "--seed", "1"]
    opts = ["MODEL.BACKBONE.NAME", clip, "INPUT.SIZE", "(32, 32)", "OPTIM.MAX_EPOCH", "2",
            "DATASET.NUM_SHOTS", "4", "USE_CUDA", "False", "DATALOADER.NUM_WORKERS", "0"]
    done = subprocess.run([*common, "--output-dir", str(out), *opts,
                           "DATASET.SUBSAMPLE_CLASSES", "base"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Finish training" in done.stdout and "* accuracy:" in done.stdout
    assert (out / "prompt_learner" / "model.pth.tar-2").is_file()
    evaluated = subprocess.run([*common, "--output-dir", str(tmp_path / "cli_new"), "--eval-only",
                                "--model-dir", str(out), "--load-epoch", "2", *opts,
                                "DATASET.SUBSAMPLE_CLASSES", "new"],
                               cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert "* accuracy:" in evaluated.stdout


def test_eval_only_reproduces_the_accuracy_the_training_log_printed(toy, tmp_path):
    from tests.helpers import read_log, toy_argv
    from tools.toy_world.bench import read_accuracy

    opts = ["DATASET.NUM_SHOTS", "4", "DATASET.SUBSAMPLE_CLASSES", "base", "OPTIM.MAX_EPOCH", "2",
            "TRAINER.COOP.N_CTX", "4"]
    out = tmp_path / "train"
    assert train.main(toy_argv(toy, out, "CoOp", "CoOp/vit_b16_ctxv1", opts=opts)) == 0
    printed = read_accuracy(out / "log.txt")
    again = tmp_path / "eval"
    assert train.main(toy_argv(toy, again, "CoOp", "CoOp/vit_b16_ctxv1", "--eval-only",
                               "--model-dir", str(out), "--load-epoch", "2", opts=opts)) == 0
    assert read_accuracy(again / "log.txt") == printed, read_log(again)
    assert printed > 50  # a trained prompt on the toy CLIP, not noise


def test_an_integer_for_a_float_key_is_taken_as_a_float(setup, capsys, tmp_path):
    root, _, _ = setup
    args = train.build_parser().parse_args(
        ["--root", root, *COOP, *EUROSAT, "--output-dir", "x",
         "TRAINER.SAR.WEIGHT", "2", "OPTIM.LR", "1", "TRAINER.COOP.N_CTX", "8"])
    cfg = train.setup_cfg(args)
    assert cfg.TRAINER.SAR.WEIGHT == 2.0 and isinstance(cfg.TRAINER.SAR.WEIGHT, float)
    assert isinstance(cfg.OPTIM.LR, float) and cfg.TRAINER.COOP.N_CTX == 8
    # yacs' other type checks stay: a string for an int key is still refused.
    fails_with(capsys, ["--root", root, *COOP, *EUROSAT, "--output-dir", str(tmp_path / "o"),
                        "TRAINER.COOP.N_CTX", "2.5"], "TRAINER.COOP.N_CTX", code=2)
    # In a YAML file, where the value cannot be rewritten, the message says what to write.
    yaml_file = tmp_path / "w.yaml"
    yaml_file.write_text("TRAINER:\n  SAR:\n    WEIGHT: 2\n")
    fails_with(capsys, ["--root", root, "--trainer", "CoOp", *EUROSAT, "--config-file",
                        str(yaml_file), "--output-dir", str(tmp_path / "o")],
               str(yaml_file), "TRAINER.SAR.WEIGHT", "e.g. 2.0", code=2)


def test_another_trainers_yaml_warns(setup, capsys, tmp_path):
    root, clip, _ = setup
    maple_yaml = "configs/trainers/MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml"
    common = ["--root", root, *EUROSAT, "--config-file", maple_yaml, "--no-train",
              "MODEL.BACKBONE.NAME", clip, *TINY_OPTS]
    assert train.main(["--trainer", "CoOp", "--output-dir", str(tmp_path / "a"), *common]) == 0
    err = capsys.readouterr().err
    assert f"Warning: {maple_yaml} sets TRAINER.MAPLE, which CoOp does not read" in err
    assert "TRAINER.MAPLE" in (tmp_path / "a" / "log.txt").read_text()
    assert train.main(["--trainer", "MaPLe_SAR", "--output-dir", str(tmp_path / "b"), *common,
                       "TRAINER.MAPLE.PROMPT_DEPTH", "2"]) == 0
    assert "does not read" not in capsys.readouterr().err


def test_sar_keys_on_the_command_line_of_a_non_sar_trainer_warn(setup, capsys, tmp_path):
    root, clip, _ = setup
    common = ["--root", root, *EUROSAT, "--no-train", "MODEL.BACKBONE.NAME", clip, *TINY_OPTS,
              "TRAINER.SAR.WEIGHT", "2.0"]
    assert train.main([*COOP, "--output-dir", str(tmp_path / "a"), *common]) == 0
    line = ("Warning: the command line sets TRAINER.SAR.WEIGHT, which CoOp does not read (it is "
            "another trainer's key?)")
    assert line in capsys.readouterr().err
    assert line in (tmp_path / "a" / "log.txt").read_text()
    sar = ["--trainer", "CoOp_SAR", "--config-file", "configs/trainers/CoOp/vit_b16_ctxv1.yaml"]
    assert train.main([*sar, "--output-dir", str(tmp_path / "b"), *common]) == 0
    assert "does not read" not in capsys.readouterr().err


def test_eval_only_says_what_the_model_dir_holds(setup, capsys, tmp_path):
    root, clip, _ = setup
    model_dir = tmp_path / "coop_run"
    (model_dir / "prompt_learner").mkdir(parents=True)
    for epoch in (1, 2):
        (model_dir / "prompt_learner" / f"model.pth.tar-{epoch}").write_bytes(b"")
    common = ["--root", root, *EUROSAT, "--eval-only", "--model-dir", str(model_dir),
              "--output-dir", str(tmp_path / "o")]
    opts = ["MODEL.BACKBONE.NAME", clip, *TINY_OPTS]
    fails_with(capsys, [*COOP, *common, *opts], "model-best.pth.tar",
               "holds prompt_learner/model.pth.tar-1, prompt_learner/model.pth.tar-2",
               "pass --load-epoch N")
    fails_with(capsys, ["--trainer", "MaPLe", "--config-file",
                        "configs/trainers/MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml", *common,
                        "--load-epoch", "2", *opts, "TRAINER.MAPLE.PROMPT_DEPTH", "2"],
               "a prompt_learner/ checkpoint from another trainer (CoCoOp, CoCoOp_ATP, "
               "CoCoOp_ATP_SAR, CoCoOp_SAR, CoOp",
               "this one reads MultiModalPromptLearner/")


def test_no_shipped_config_warns_with_its_own_trainer():
    import glob

    from dassl.engine import TRAINER_REGISTRY
    from trainers.config import unread_trainer_nodes

    paths = sorted(glob.glob(os.path.join(ROOT, "configs", "trainers", "*", "*.yaml")))
    assert paths
    for path in paths:
        trainer = TRAINER_REGISTRY.get(os.path.basename(os.path.dirname(path)))
        assert unread_trainer_nodes(path, trainer) == [], path
