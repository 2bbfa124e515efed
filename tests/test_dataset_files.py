"""Dataset caches on a shared data root: readable by the group, and a full disk named."""

import errno
import os

import pytest

from datasets import coop_format
from datasets.coop_format import write_json_atomic


def test_caches_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        write_json_atomic({"train": []}, tmp_path / "split_fewshot" / "shot_1-seed_1.json")
    finally:
        os.umask(previous)
    assert (tmp_path / "split_fewshot" / "shot_1-seed_1.json").stat().st_mode & 0o777 == 0o644


def test_disk_full_names_the_cache_file(tmp_path, monkeypatch):
    def full(obj, f, **kwargs):
        f.write("{")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(coop_format.json, "dump", full)
    target = tmp_path / "split_zhou_EuroSAT.json"
    with pytest.raises(OSError, match=f"cannot write {target}: the disk is full"):
        write_json_atomic({"train": []}, target)
    assert os.listdir(tmp_path) == []
