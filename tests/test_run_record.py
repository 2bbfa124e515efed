"""A finished run's recorded options against a new request (launch/run_record.py).

The records are written by train.py's own print_args, so the format under test is the real one.
"""

import contextlib
import io

import pytest

import train
from launch.run_record import (
    asked_arguments,
    differences,
    newest_log,
    read_record,
    record_difference,
    recorded_arguments,
    run_differences,
    write_record,
)

ARGV = ["--root", "/data", "--seed", "1", "--trainer", "CoOp",
        "--dataset-config-file", "/repo/configs/datasets/eurosat.yaml",
        "--config-file", "/repo/configs/trainers/CoOp/rn50.yaml", "--output-dir", "/out/seed1",
        "TRAINER.COOP.N_CTX", "16", "DATASET.NUM_SHOTS", "4", "OPTIM.MAX_EPOCH", "50"]


def write_run(folder, argv, name="log.txt"):
    """A run folder whose log starts as train.py's does and ends with a result."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        train.print_args(train.build_parser().parse_args(argv), "CONFIG: 1")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(out.getvalue() + "Finish training\n* accuracy: 50.0%\n")
    return folder


def test_the_same_request_matches_wherever_the_repository_and_data_are(tmp_path):
    run = write_run(tmp_path / "run", ARGV)
    assert run_differences(str(run), ARGV) == []
    moved = [a.replace("/repo/", "/elsewhere/sar/") for a in ARGV]
    moved[moved.index("/data")], moved[moved.index("/out/seed1")] = "/mnt/d", "/scratch/seed1"
    cached = [*moved, "TEST.FEATURE_CACHE", "/cache", "OPTIM.MAX_EPOCH", "50"]
    assert run_differences(str(run), cached) == []


def test_each_difference_is_named_with_both_values(tmp_path):
    run = write_run(tmp_path / "run", ARGV)
    other = [*ARGV[:3], "2", *ARGV[4:-2], "OPTIM.MAX_EPOCH", "5", "OPTIM.LR", "0.1"]
    assert run_differences(str(run), other) == [
        "--seed: there 1, asked 2",
        "OPTIM.LR: there (not set), asked 0.1",
        "OPTIM.MAX_EPOCH: there 50, asked 5",
    ]
    sar_config = [a.replace("CoOp/rn50", "CoOp_SAR/rn50") for a in ARGV]
    assert run_differences(str(run), sar_config) == [
        "--config-file: there CoOp/rn50.yaml, asked CoOp_SAR/rn50.yaml"]
    evaluation = ["--eval-only", "--load-epoch", "50", "--model-dir", "/m", *ARGV]
    assert run_differences(str(run), evaluation) == [
        "--eval-only: there False, asked True", "--load-epoch: there None, asked 50"]


def test_the_newest_log_is_the_record(tmp_path):
    run = write_run(tmp_path / "run", ARGV)
    write_run(run, [*ARGV[:-1], "5"], name="log.txt-2026-01-02-03-04-05")
    assert newest_log(str(run)).endswith("log.txt-2026-01-02-03-04-05")
    assert run_differences(str(run), ARGV) == ["OPTIM.MAX_EPOCH: there 5, asked 50"]


def test_a_log_without_a_record_never_matches(tmp_path):
    (tmp_path / "run").mkdir()
    assert run_differences(str(tmp_path / "run"), ARGV) == [f"no log.txt in {tmp_path}/run"]
    (tmp_path / "run" / "log.txt").write_text("Finish training\n* accuracy: 50.0%\n")
    assert recorded_arguments(str(tmp_path / "run" / "log.txt")) is None
    assert "records no train.py arguments" in run_differences(str(tmp_path / "run"), ARGV)[0]


def test_list_flags_and_inline_values_read_as_argparse_reads_them():
    asked = asked_arguments(["--transforms", "random_flip", "normalize", "--seed=3", "A.B", "1"])
    assert asked == {"transforms": "['random_flip', 'normalize']", "seed": "3",
                     "opts": "['A.B', '1']"}
    recorded = {"transforms": "['random_flip']", "seed": "3", "opts": "['A.B', '1']"}
    assert differences(recorded, asked) == [
        "--transforms: there ['random_flip'], asked ['random_flip', 'normalize']"]


def test_a_record_round_trips_and_equal_requests_match(tmp_path):
    asked = {"seed": 1, "opts": ["OPTIM.MAX_EPOCH", "50", "OPTIM.LR", "0.002"]}
    path = tmp_path / "run" / "run_options.json"
    write_record(path, asked)
    assert read_record(path) == asked
    assert record_difference(read_record(path), asked) is None
    reordered = {"seed": 1, "opts": ["OPTIM.LR", "0.002", "OPTIM.MAX_EPOCH", "50"]}
    assert record_difference(asked, reordered) is None  # the same config


def test_a_changed_option_or_a_missing_record_is_named():
    recorded = {"seed": 1, "opts": ["OPTIM.MAX_EPOCH", "50"]}
    assert record_difference(recorded, {"seed": 1, "opts": ["OPTIM.MAX_EPOCH", "5"]}) == \
        "OPTIM.MAX_EPOCH: recorded 50, asked 5"
    assert "seed: recorded 1, asked 2" in record_difference(recorded, {**recorded, "seed": 2})
    assert record_difference(None, recorded) == "no record of the options it ran with"


def test_a_broken_record_is_refused_in_one_line(tmp_path):
    path = tmp_path / "run_options.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="unreadable run record"):
        read_record(path)
    assert read_record(tmp_path / "none.json") is None
