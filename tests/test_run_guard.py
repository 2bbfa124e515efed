"""Round 2 of the reliability catalogue: config mistakes, interrupted runs and buried culprits
each end with one line naming the culprit, the conventional exit code, and no half-made folder."""


import pytest

import train
from tests.helpers import COOP, EUROSAT, TINY_OPTS, eurosat_setup, read_log


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


def test_yaml_syntax_error_names_the_file_and_line(setup, capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("OPTIM:\n  LR: [0.1,\n")
    args = argv(setup, tmp_path / "o")
    args[args.index("configs/trainers/CoOp/vit_b16_ctxv1.yaml")] = str(bad)
    fails(capsys, args, "bad.yaml", "YAML syntax error at line", code=2)


def test_yaml_whose_top_level_is_a_list_is_refused(setup, capsys, tmp_path):
    bad = tmp_path / "list.yaml"
    bad.write_text("- OPTIM\n- LR\n")
    args = argv(setup, tmp_path / "o")
    args[args.index("configs/trainers/CoOp/vit_b16_ctxv1.yaml")] = str(bad)
    fails(capsys, args, "list.yaml", "mapping", code=2)


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
