"""Config YAML read strictly: a repeated key is refused, every shipped config still merges."""

from pathlib import Path

import pytest
import yaml

from dassl.config import get_cfg_default
from tests.helpers import ROOT
from trainers.config import extend_cfg
from trainers.yaml_config import DuplicateKeyError, load_yaml, merge_yaml_file

SHIPPED = sorted((Path(ROOT) / "configs").rglob("*.yaml"))


def test_a_key_twice_names_the_file_the_dotted_key_and_both_lines(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("OPTIM:\n  NAME: sgd\n  LR: 0.002\n  MAX_EPOCH: 5\n  LR: 0.5\n")
    assert yaml.safe_load(path.read_text())["OPTIM"]["LR"] == 0.5  # what PyYAML does alone
    with pytest.raises(DuplicateKeyError) as error:
        load_yaml(path)
    assert str(error.value).startswith(f"{path}: key OPTIM.LR is given twice (lines 3 and 5)")


def test_a_top_level_key_twice_and_a_key_twice_inside_a_list_are_refused(tmp_path):
    top = tmp_path / "top.yaml"
    top.write_text("OPTIM:\n  LR: 0.1\nTRAIN:\n  X: 1\nOPTIM:\n  LR: 0.5\n")
    with pytest.raises(DuplicateKeyError, match=r"key OPTIM is given twice \(lines 1 and 5\)"):
        load_yaml(top)
    nested = tmp_path / "list.yaml"
    nested.write_text("A:\n  - B: 1\n    B: 2\n")
    with pytest.raises(DuplicateKeyError, match=r"key A\.0\.B is given twice \(lines 2 and 3\)"):
        load_yaml(nested)


def test_equal_keys_in_different_mappings_are_fine(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("OPTIM:\n  LR: 0.1\nOPTIM_B:\n  LR: 0.2\nX: &a {K: 1}\nY: *a\n")
    assert load_yaml(path)["OPTIM_B"]["LR"] == 0.2
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_yaml(empty) is None


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_config_still_merges(path):
    cfg = extend_cfg(get_cfg_default())
    merge_yaml_file(cfg, str(path))
