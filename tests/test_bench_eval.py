"""Smoke runs of tools/bench_eval.py on the CPU (no timing assertions: timings live in docs)."""

from benchmarking import evaluation as bench_eval


def test_pass_costs_cover_every_way_of_evaluating():
    rows = bench_eval.main(["passes", "--tiny", "--steps", "1"])
    ratios = {row["evaluation"]: row["vs image pass alone"] for row in rows}
    assert ratios["image pass alone"] == 1.0
    assert ratios["ours: text once per pass"] < ratios["text per batch, exact context (item 1 off)"]


def test_cache_rounds_time_the_real_test():
    rows = bench_eval.main(["cache", "--tiny", "--steps", "1"])
    assert [row["evaluation"] for row in rows] == ["no cache", "cold cache", "cache hit"]
    assert all(row["s"] > 0 for row in rows)
