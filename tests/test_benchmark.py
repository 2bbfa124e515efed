"""Smoke runs of tools/benchmark.py on the CPU (no timing assertions: timings live in docs)."""

import math

from tools import benchmark
from tools.make_synthetic_data import write_synthetic_root


def test_step_benchmark_runs_every_row_and_ratio():
    rows = benchmark.main(["--tiny", "--steps", "1", "--trainers", "CoOp", "CoOp_SAR", "--compare"])
    assert [(r["trainer"], r["context"]) for r in rows] == [
        ("CoOp", "exact"), ("CoOp_SAR", "exact"), ("CoOp", "77 (upstream)")]
    assert all(r["ms/step"] > 0 for r in rows)
    assert rows[2]["vs upstream"] == 1.0
    assert not math.isnan(rows[1]["SAR/base time"]) and math.isnan(rows[0]["SAR/base time"])


def test_reference_mode_is_switched_back_off():
    from trainers.text_encoder import TextEncoder

    benchmark.main(["--tiny", "--steps", "1", "--trainers", "CoOp", "--compare"])
    assert TextEncoder.exact_truncation is True


def test_pipeline_benchmark(tmp_path):
    write_synthetic_root(str(tmp_path), datasets=["EuroSAT"])
    rows = benchmark.main(["pipeline", "--root", str(tmp_path), "--dataset", "eurosat",
                           "--workers", "0", "--shots", "4", "--batch", "8", "--image-size", "32",
                           "--epochs", "2"])
    assert rows[0]["workers"] == 0 and rows[0]["images"] > 0
