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


def program_parsers():
    """Every Python command line's parser, by the name a user types."""
    import parse_test_res
    import train
    from benchmarking import evaluation, steps
    from tools import check_data_root, plot_curves, similarity_report
    from tools.parity.__main__ import build_parser as parity_parser
    from tools.toy_world.cli import build_parser as toy_parser

    toy = toy_parser()
    subparsers = next(a for a in toy._actions if isinstance(a, argparse._SubParsersAction))
    parsers = {"train.py": train.build_parser(), "parse_test_res.py": parse_test_res.build_parser(),
               "bench_eval.py": evaluation.build_parser(), "benchmark.py": steps.build_parser(),
               "check_data_root.py": check_data_root.build_parser(),
               "plot_curves.py": plot_curves.build_parser(),
               "similarity_report.py": similarity_report.build_parser(),
               "tools.parity": parity_parser()}
    parsers.update({f"tools.toy_world {name}": sub for name, sub in subparsers.choices.items()})
    return parsers


@pytest.mark.parametrize("name", sorted(program_parsers()))
def test_every_option_has_help_and_no_help_shows_a_default_of_none(name):
    parser = program_parsers()[name]
    bare = [a.option_strings[0] for a in parser._actions if a.option_strings and not a.help]
    assert bare == []
    text = parser.format_help()
    assert "(default: None)" not in text and "issue" not in text.lower()


def test_train_backbone_help_says_what_it_takes():
    import train

    text = " ".join(train.build_parser().format_help().split())
    assert "CNN" not in text and "MODEL.BACKBONE.NAME" in text
    from tools import similarity_report

    assert "default: similarity.png" in similarity_report.build_parser().format_help()
