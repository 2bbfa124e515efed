"""The recorded options of a run: equal request, same run; anything else says what differs."""

import pytest

from launch.run_record import difference, read_record, write_record


def test_a_record_round_trips_and_equal_requests_match(tmp_path):
    asked = {"seed": 1, "opts": ["OPTIM.MAX_EPOCH", "50", "OPTIM.LR", "0.002"]}
    path = tmp_path / "run" / "run_options.json"
    write_record(path, asked)
    assert read_record(path) == asked
    assert difference(read_record(path), asked) is None
    reordered = {"seed": 1, "opts": ["OPTIM.LR", "0.002", "OPTIM.MAX_EPOCH", "50"]}
    assert difference(asked, reordered) is None  # the same config


def test_a_changed_option_or_a_missing_record_is_named():
    recorded = {"seed": 1, "opts": ["OPTIM.MAX_EPOCH", "50"]}
    assert difference(recorded, {"seed": 1, "opts": ["OPTIM.MAX_EPOCH", "5"]}) == \
        "OPTIM.MAX_EPOCH: recorded 50, asked 5"
    assert "seed: recorded 1, asked 2" in difference(recorded, {**recorded, "seed": 2})
    assert difference(None, recorded) == "no record of the options it ran with"


def test_a_broken_record_is_refused_in_one_line(tmp_path):
    path = tmp_path / "run_options.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="unreadable run record"):
        read_record(path)
    assert read_record(tmp_path / "none.json") is None
