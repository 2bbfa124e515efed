"""The command-line pieces every Python program shares: the KEY VALUE splitter and the help."""

import argparse

import pytest

from launch.cli import ArgumentParser, HelpFormatter, split_opts


@pytest.mark.parametrize("argv", [
    ["--seeds", "1", "2", "OPTIM.MAX_EPOCH", "50"],
    ["--seeds", "1", "2", "--", "OPTIM.MAX_EPOCH", "50"],
])
def test_pairs_start_at_the_first_key_or_after_a_double_dash(argv):
    assert split_opts(argv) == (["--seeds", "1", "2"], ["OPTIM.MAX_EPOCH", "50"])


def test_a_value_that_looks_like_a_key_after_the_split_stays_a_value():
    flags, opts = split_opts(["--out", "x", "MODEL.BACKBONE.NAME", "A.B", "--", "C.D"])
    assert flags == ["--out", "x"] and opts == ["MODEL.BACKBONE.NAME", "A.B", "--", "C.D"]
    assert split_opts(["--out", "lower.case"]) == (["--out", "lower.case"], [])


def test_help_shows_real_defaults_only_and_lists_as_typed():
    parser = argparse.ArgumentParser(formatter_class=HelpFormatter)
    parser.add_argument("--out", required=True, help="where")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="seeds")
    parser.add_argument("--report", default=None, help="file")
    parser.add_argument("--jobs", type=int, default=0, help="jobs at 100%% load")
    parser.add_argument("--gpu", action="store_true", help="cuda")
    text = " ".join(parser.format_help().split())
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "seeds (default: 1 2 3)" in text and "[1, 2, 3]" not in text
    assert "jobs at 100% load (default: 0)" in text


def test_a_refusal_is_one_line_naming_the_option(capsys):
    parser = ArgumentParser(prog="prog")
    parser.add_argument("--seed", type=int)
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--seed", "x"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and "--seed" in err and "'x'" in err
