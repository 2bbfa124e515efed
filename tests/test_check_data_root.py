"""tools/check_data_root.py: a table for a good root, one line per broken dataset, and
nothing written to the root."""

import json
import os
import shutil

import pytest

from datasets.synthetic import write_synthetic_root
from tools.check_data_root import main


@pytest.fixture(scope="module")
def good_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("good"))
    write_synthetic_root(root)
    return root


def test_all_datasets_ok(good_root, capsys):
    assert main(["--root", good_root]) == 0
    out = capsys.readouterr().out
    assert "15 of 15 datasets" in out and "BROKEN" not in out
    for name in ("OxfordPets", "ImageNetR", "EuroSAT"):
        assert name in out
    eurosat = next(line for line in out.splitlines() if line.startswith("EuroSAT"))
    assert eurosat.split()[2:6] == ["10", "160", "40", "40"]


def snapshot(root):
    """Every path under ``root`` with its size and modification time."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            out[path] = (os.path.getsize(path), os.path.getmtime(path))
    return out


def test_partial_root_and_stems(tmp_path, capsys):
    write_synthetic_root(str(tmp_path), ["DescribableTextures", "ImageNet"])
    before = snapshot(str(tmp_path))
    assert main(["--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "not found" in out and "2 of 2 datasets" in out
    assert main(["--root", str(tmp_path), "--datasets", "dtd", "imagenet", "--num-shots", "4"]) == 0
    assert snapshot(str(tmp_path)) == before  # no few-shot cache, no ImageNet index


def test_missing_split_file_is_reported_and_nothing_written(tmp_path, capsys):
    """Issue 16 item 9: the tool used to build and save a random split and call it "ok"."""
    root = str(tmp_path)
    write_synthetic_root(root, ["EuroSAT", "Caltech101", "OxfordFlowers"],
                         omit_splits=["EuroSAT", "Caltech101", "OxfordFlowers"])
    before = snapshot(root)
    assert main(["--root", root]) == 0
    out = capsys.readouterr().out
    assert snapshot(root) == before
    for name in ("EuroSAT", "Caltech101", "OxfordFlowers"):
        row = next(line for line in out.splitlines() if line.startswith(name))
        assert row.endswith("no split file") and " ok" not in row
        note = next(line for line in out.splitlines() if line.startswith(f"NOTE {name}:"))
        assert "no CoOp split file: a random split would be built" in note
    assert "3 of them have no CoOp split file" in out


def test_inconsistent_split_is_broken_not_ok(tmp_path, capsys):
    """Issue 14 item 7: a split with a test label that is not in train was called "ok"."""
    root = str(tmp_path)
    write_synthetic_root(root, ["OxfordPets"])
    path = os.path.join(root, "oxford_pets", "split_zhou_OxfordPets.json")
    with open(path) as f:
        split = json.load(f)
    split["test"][0][1] = 42
    with open(path, "w") as f:
        json.dump(split, f)
    assert main(["--root", root]) == 1
    broken = [line for line in capsys.readouterr().out.splitlines() if line.startswith("BROKEN")]
    assert len(broken) == 1 and path in broken[0] and "42" in broken[0]


def test_broken_datasets_are_reported(tmp_path, capsys):
    root = str(tmp_path)
    write_synthetic_root(root, ["OxfordPets", "UCF101", "EuroSAT"])
    os.remove(os.path.join(root, "oxford_pets", "split_zhou_OxfordPets.json"))
    with open(os.path.join(root, "ucf101", "split_zhou_UCF101.json"), "w") as f:
        f.write("{broken")
    assert main(["--root", root]) == 1
    out = capsys.readouterr().out
    broken = [line for line in out.splitlines() if line.startswith("BROKEN")]
    assert len(broken) == 2
    assert "split_zhou_OxfordPets.json" in broken[0] and "DATASETS.md" in broken[0]
    assert broken[1].startswith("BROKEN UCF101: Malformed split file")
    assert "1 of 3 datasets" in out


def test_explicit_missing_dataset_and_empty_root(tmp_path, capsys):
    assert main(["--root", str(tmp_path), "--datasets", "ImageNet"]) == 1
    assert "BROKEN ImageNet: Dataset folder" in capsys.readouterr().out
    assert main(["--root", str(tmp_path)]) == 1
    assert "No dataset folder found" in capsys.readouterr().out
    assert main(["--root", str(tmp_path / "nope")]) == 1
    with pytest.raises(SystemExit):
        main(["--root", str(tmp_path), "--datasets", "NotADataset"])


def test_runs_as_a_script(good_root, tmp_path):
    import subprocess
    import sys

    root = str(tmp_path / "copy")
    shutil.copytree(os.path.join(good_root, "eurosat"), os.path.join(root, "eurosat"))
    script = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tools", "check_data_root.py")
    proc = subprocess.run([sys.executable, script, "--root", root], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "EuroSAT" in proc.stdout


def test_a_root_one_level_too_high_names_the_data_root_below(good_root, tmp_path, capsys):
    above = tmp_path / "above"
    above.mkdir()
    (above / "data").symlink_to(good_root)
    (above / "notes").mkdir()
    assert main(["--root", str(above)]) == 1
    out = capsys.readouterr().out
    assert f"{above / 'data'} is a data root" in out and f"--root {above / 'data'}" in out
    assert "not found" not in out  # no table of empty rows
