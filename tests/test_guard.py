"""Round 2 of the reliability catalogue: config mistakes, interrupted runs and buried culprits
each end with one line naming the culprit, the conventional exit code, and no half-made folder."""


import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image

import train
from datasets.synthetic import write_synthetic_root
from tests.helpers import (
    COOP,
    EUROSAT,
    ROOT,
    TINY_OPTS,
    eurosat_setup,
    fill_the_disk,
    read_log,
    tiny_clip_path,
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return eurosat_setup(tmp_path_factory, "guard")


def argv(setup, out, *opts, flags=()):
    root, clip, _ = setup
    return ["--root", root, *COOP, *EUROSAT, "--output-dir", str(out), "--seed", "1", *flags,
            "MODEL.BACKBONE.NAME", clip, *TINY_OPTS, *opts]


def fails(capsys, args, *fragments, code=None):
    result = train.main(args)
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert result != 0 and (code is None or result == code), result
    assert len(err) == 1, err
    for fragment in fragments:
        assert fragment in err[0], err[0]
    return err[0]


def test_seed_zero_is_a_seed():
    cfg = train.setup_cfg(train.build_parser().parse_args(["--seed", "0", "--output-dir", "x"]))
    assert cfg.SEED == 0
    default = train.setup_cfg(train.build_parser().parse_args(["--output-dir", "x"]))
    assert default.SEED == -1


@pytest.mark.parametrize("epochs", ["0", "-1"])
def test_no_epochs_is_refused(setup, capsys, tmp_path, epochs):
    out = tmp_path / "o"
    fails(capsys, argv(setup, out, "OPTIM.MAX_EPOCH", epochs), "OPTIM.MAX_EPOCH", epochs)
    assert not out.exists()


@pytest.mark.parametrize("name", ["x.txt", "run.log", "afile"])
def test_output_dir_that_names_a_file_is_refused(setup, capsys, tmp_path, name):
    out = tmp_path / name
    if name == "afile":
        out.write_text("keep me")
    fails(capsys, argv(setup, out), "--output-dir", name, code=2)
    assert not out.exists() or out.read_text() == "keep me"


@pytest.mark.parametrize("name,text,fragment", [
    ("bad.yaml", "OPTIM:\n  LR: [0.1,\n", "YAML syntax error at line 3"),
    ("list.yaml", "- OPTIM\n- LR\n", "the top level must be a mapping"),
    ("twice.yaml", "OPTIM:\n  LR: 0.002\n  MAX_EPOCH: 1\n  LR: 0.5\n",
     "key OPTIM.LR is given twice (lines 2 and 4)"),
], ids=["syntax-error", "top-level-list", "duplicate-key"])
def test_bad_yaml_names_the_file(setup, capsys, tmp_path, name, text, fragment):
    bad = tmp_path / name
    bad.write_text(text)
    args = argv(setup, tmp_path / "o")
    args[args.index("configs/trainers/CoOp/vit_b16_ctxv1.yaml")] = str(bad)
    fails(capsys, args, name, fragment, code=2)
    assert not (tmp_path / "o").exists()


def test_duplicate_key_in_the_dataset_config_is_refused(setup, capsys, tmp_path):
    dataset = tmp_path / "eurosat.yaml"
    dataset.write_text(open(os.path.join(ROOT, "configs/datasets/eurosat.yaml")).read()
                       + "DATASET:\n  NAME: OxfordPets\n")
    args = argv(setup, tmp_path / "o")
    args[args.index("configs/datasets/eurosat.yaml")] = str(dataset)
    fails(capsys, args, str(dataset), "key DATASET is given twice", code=2)


def test_input_size_of_one_number_names_the_key(setup, capsys, tmp_path):
    fails(capsys, argv(setup, tmp_path / "o", "INPUT.SIZE", "(32,)"), "INPUT.SIZE", "(32,)",
          code=2)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("opts,fragment", [
    (["TRAINER.COOP.CTX_INIT", "''", "TRAINER.COOP.N_CTX", "100"], "N_CTX 100"),
    (["TRAINER.COOP.CTX_INIT", " ".join(["word"] * 90)], "CTX_INIT (90 words)"),
], ids=["n_ctx-100", "ctx_init-90-words"])
def test_prompt_longer_than_clips_context_is_refused(setup, capsys, tmp_path, opts, fragment):
    out = tmp_path / "o"
    line = fails(capsys, argv(setup, out, *opts), fragment, "77")
    assert "tokens" in line
    assert not out.exists()


def test_no_context_and_too_many_shots_warn(setup, tmp_path, recwarn):
    out = tmp_path / "o"
    code = train.main(argv(setup, out, "TRAINER.COOP.CTX_INIT", "''", "TRAINER.COOP.N_CTX", "0",
                           "DATASET.NUM_SHOTS", "1000"))
    assert code == 0
    log = read_log(out)
    assert "N_CTX 0" in log
    assert "DATASET.NUM_SHOTS is 1000 but 10 of 10 classes have fewer" in log


@pytest.fixture(scope="module")
def trained(setup):
    out = setup[2] / "trained"
    assert train.main(argv(setup, out)) == 0
    return out


@pytest.mark.parametrize("content", [
    torch.zeros(3), [1, 2], {"state_dict": {}}, {"epoch": 1}, {"state_dict": [], "epoch": 1},
], ids=["tensor", "list", "no-epoch", "no-state_dict", "state_dict-not-a-dict"])
def test_checkpoint_that_is_not_a_dassl_checkpoint_names_the_file(setup, capsys, tmp_path,
                                                                   content):
    model_dir = tmp_path / "model"
    (model_dir / "prompt_learner").mkdir(parents=True)
    torch.save(content, model_dir / "prompt_learner" / "model.pth.tar-1")
    out = tmp_path / "o"
    fails(capsys, argv(setup, out, flags=["--eval-only", "--model-dir", str(model_dir),
                                          "--load-epoch", "1"]),
          "model.pth.tar-1 is not a Dassl checkpoint")
    assert not out.exists()


@pytest.mark.parametrize("opts,fragment", [
    (["TRAINER.COOP.CTX_INIT", "''", "TRAINER.COOP.N_CTX", "8"], "ctx has shape (4, 64)"),
    (["DATASET.SUBSAMPLE_CLASSES", "base"], "token_prefix has shape (10, 1, 64)"),
], ids=["n_ctx", "classes"])
def test_resume_from_another_models_checkpoint_names_parameter_and_shapes(setup, capsys,
                                                                          trained, tmp_path,
                                                                          opts, fragment):
    out = tmp_path / "resumed"
    shutil.copytree(trained, out)
    line = fails(capsys, argv(setup, out, "OPTIM.MAX_EPOCH", "2", *opts), fragment,
                 os.path.join("prompt_learner", "model.pth.tar-1"))
    assert "expects" in line


def test_resume_from_another_trainers_checkpoint_names_the_keys(setup, capsys, trained,
                                                                 tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(trained, out)
    args = argv(setup, out, "OPTIM.MAX_EPOCH", "2")
    args[args.index("CoOp")] = "CoCoOp"
    args[args.index("configs/trainers/CoOp/vit_b16_ctxv1.yaml")] = (
        "configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml")
    fails(capsys, args, "model.pth.tar-1 does not fit this model", "meta_net")


def test_stale_temp_file_of_a_killed_checkpoint_write_is_removed(setup, trained, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(trained, out)
    stale = out / "prompt_learner" / ".model.pth.tar-2.k1ll3d_x.tmp"
    stale.write_bytes(b"PK half a checkpoint")
    assert train.main(argv(setup, out, "OPTIM.MAX_EPOCH", "2")) == 0
    assert not stale.exists() and (out / "prompt_learner" / "model.pth.tar-2").is_file()


def test_killed_during_the_first_checkpoint_write_starts_afresh(setup, tmp_path):
    out = tmp_path / "o"
    (out / "prompt_learner").mkdir(parents=True)
    (out / "prompt_learner" / ".model.pth.tar-1.k1ll3d_x.tmp").write_bytes(b"PK")
    assert train.main(argv(setup, out)) == 0
    assert sorted(os.listdir(out / "prompt_learner")) == ["checkpoint", "model.pth.tar-1"]


def test_disk_full_names_the_checkpoint_and_leaves_no_folder(setup, capsys, tmp_path,
                                                             monkeypatch):
    fill_the_disk(monkeypatch)
    out = tmp_path / "o"
    line = fails(capsys, argv(setup, out), "cannot write", "model.pth.tar-1", "the disk is full")
    assert "inline_container" not in line
    assert not out.exists()


@pytest.fixture(scope="module")
def corrupt_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("corrupt") / "data"
    write_synthetic_root(str(root), datasets=["EuroSAT"])
    for path in glob.glob(str(root / "eurosat" / "2750" / "*" / "*.jpg")):
        with open(path, "wb") as f:
            f.write(b"not an image")
    return str(root)


@pytest.mark.parametrize("workers", ["0", "1"])
def test_corrupt_image_is_named_with_and_without_workers(setup, capsys, tmp_path, corrupt_root,
                                                         workers):
    args = argv(setup, tmp_path / "o", "DATALOADER.NUM_WORKERS", workers)
    args[args.index("--root") + 1] = corrupt_root
    line = fails(capsys, args, "Cannot read image", ".jpg")
    assert "DataLoader worker" not in line


def test_decompression_bomb_names_the_image(setup, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # every 32x32 image is now a "bomb"
    fails(capsys, argv(setup, tmp_path / "o"), "Cannot read image", ".jpg", "decompression bomb")
    assert not (tmp_path / "o").exists()


def split_root(tmp_path, setup, split_text):
    """A data root whose EuroSAT split file is ``split_text``, sharing the images of ``setup``."""
    root = tmp_path / "data"
    (root / "eurosat").mkdir(parents=True)
    os.symlink(os.path.join(setup[0], "eurosat", "2750"), root / "eurosat" / "2750")
    (root / "eurosat" / "split_zhou_EuroSAT.json").write_text(split_text)
    return str(root)


@pytest.mark.parametrize("emptied", ["train", "test"])
def test_empty_split_names_the_file(setup, capsys, tmp_path, emptied):
    with open(os.path.join(setup[0], "eurosat", "split_zhou_EuroSAT.json")) as f:
        split = json.load(f)
    split[emptied] = []
    args = argv(setup, tmp_path / "o")
    args[args.index("--root") + 1] = split_root(tmp_path, setup, json.dumps(split))
    fails(capsys, args, "split_zhou_EuroSAT.json", f"the {emptied} split is empty")


def test_deeply_nested_json_names_the_file(setup, capsys, tmp_path):
    args = argv(setup, tmp_path / "o")
    args[args.index("--root") + 1] = split_root(tmp_path, setup, "[" * 10**5 + "]" * 10**5)
    fails(capsys, args, "split_zhou_EuroSAT.json", "recursion")


def test_non_utf8_classnames_names_the_file(capsys, tmp_path):
    root = tmp_path / "data"
    write_synthetic_root(str(root), datasets=["ImageNet"])
    (root / "imagenet" / "classnames.txt").write_bytes("n01440764 tench \xe9\n".encode("latin-1"))
    args = ["--root", str(root), *COOP, "--dataset-config-file", "configs/datasets/imagenet.yaml",
            "--output-dir", str(tmp_path / "o"), "MODEL.BACKBONE.NAME", tiny_clip_path(tmp_path),
            *TINY_OPTS]
    fails(capsys, args, "classnames.txt", "not UTF-8")
    assert not (tmp_path / "o").exists()


def test_sar_debug_keeps_the_traceback(setup, tmp_path, monkeypatch):
    monkeypatch.setenv("SAR_DEBUG", "1")
    with pytest.raises(ValueError, match="N_CTX 100"):
        train.main(argv(setup, tmp_path / "o", "TRAINER.COOP.CTX_INIT", "''",
                        "TRAINER.COOP.N_CTX", "100"))
    assert not (tmp_path / "o").exists()  # the cleanup still happened


def start_training(setup, out, *opts):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("SAR_DEBUG", None)
    # A runner started in the background (CI, nohup, `cmd &`) passes SIGINT on as ignored, and
    # Python then never raises KeyboardInterrupt: give the run the disposition a terminal would.
    return subprocess.Popen(
        [sys.executable, "train.py", *argv(setup, out, "OPTIM.MAX_EPOCH", "100000", *opts)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for_log(out, text, process, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        log = out / "log.txt"
        if log.exists() and text in log.read_text():
            return
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"{text!r} never appeared in {out / 'log.txt'}")


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_signal_before_the_first_checkpoint_leaves_no_folder(setup, tmp_path, signum, code):
    out = tmp_path / "o"
    process = start_training(setup, out, "TRAIN.CHECKPOINT_FREQ", "0")
    wait_for_log(out, "epoch [2/", process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert err.strip().splitlines()[-1] == f"error: interrupted by {signal.Signals(signum).name}"
    assert "Traceback" not in err
    assert not out.exists()


def test_signal_after_a_checkpoint_leaves_a_resumable_folder(setup, tmp_path):
    out = tmp_path / "o"
    process = start_training(setup, out, "TRAIN.CHECKPOINT_FREQ", "1")
    wait_for_log(out, "Checkpoint saved", process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "the same command resumes from it" in err.strip().splitlines()[-1]
    assert glob.glob(str(out / "prompt_learner" / "model.pth.tar-*"))
    assert not glob.glob(str(out / "prompt_learner" / ".*.tmp"))


def test_a_second_writer_is_refused_naming_the_holders_pid(setup, capsys, tmp_path, trained):
    out = tmp_path / "o"
    first = start_training(setup, out, "TRAIN.CHECKPOINT_FREQ", "0")
    try:
        wait_for_log(out, "epoch [2/", first)
        line = fails(capsys, argv(setup, out), str(out), f"PID {first.pid}", code=1)
        assert "one writer per run folder" in line
        assert first.poll() is None and (out / "log.txt").exists()  # left alone, still training
        # an evaluation of another run into its own folder is not held up
        assert train.main(argv(setup, tmp_path / "eval", flags=[
            "--eval-only", "--model-dir", str(trained), "--load-epoch", "1"])) == 0
    finally:
        first.kill()  # SIGKILL: the kernel releases the lock with the process
        first.communicate(timeout=60)
    from launch import run_lock

    run_lock.release(run_lock.acquire(str(out)))
