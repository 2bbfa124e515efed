"""tools/check_data_root.py: a table for a good root, one line per broken dataset."""

import os
import shutil

import pytest

from tools.check_data_root import main
from tools.make_synthetic_data import write_synthetic_root


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


def test_partial_root_and_stems(tmp_path, capsys):
    write_synthetic_root(str(tmp_path), ["DescribableTextures"])
    assert main(["--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "not found" in out and "1 of 1 datasets" in out
    assert main(["--root", str(tmp_path), "--datasets", "dtd", "--num-shots", "4"]) == 0
    assert os.path.isfile(os.path.join(str(tmp_path), "dtd", "split_fewshot", "shot_4-seed_1.json"))


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
