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


def test_compiled_rows_are_compared_with_their_own_baseline():
    rows = benchmark.main(["--tiny", "--steps", "1", "--trainers", "CoOp", "CoOp_SAR",
                           "--compile", "default", "--compile-backend", "aot_eager"])
    assert [(r["trainer"], r["compile"]) for r in rows] == [
        ("CoOp", "-"), ("CoOp_SAR", "-"), ("CoOp", "default"), ("CoOp_SAR", "default")]
    assert rows[3]["SAR/base time"] == rows[3]["ms/step"] / rows[2]["ms/step"]


def test_text_encoder_rate_counts_flops_of_both_contexts():
    rows = benchmark.main(["textenc", "--tiny", "--steps", "1"])
    exact, full = rows
    assert full["tokens"] == 77 and exact["tokens"] < 77
    assert full["GFLOP"] > exact["GFLOP"] > 0
    assert exact["of peak"] == exact["TFLOP/s"] / exact["matmul TFLOP/s"]
