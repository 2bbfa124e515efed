"""Smoke runs of tools/benchmark.py on the CPU (no timing assertions: timings live in docs)."""

from benchmarking import steps as benchmark
from datasets.synthetic import write_synthetic_root


def test_step_benchmark_runs_every_row_and_ratio():
    rows = benchmark.main(["--tiny", "--steps", "1", "--trainers", "CoOp", "CoOp_SAR", "--compare"])
    assert [(r["trainer"], r["context"]) for r in rows] == [
        ("CoOp", "exact"), ("CoOp_SAR", "exact"), ("CoOp", "77 (upstream)")]
    assert all(r["ms/step"] > 0 for r in rows)
    assert rows[2]["vs upstream"] == 1.0
    assert rows[1]["SAR/base time"] > 0 and rows[0]["SAR/base time"] is None


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


def test_text_encoder_rate_counts_flops_and_saved_bytes_of_every_path():
    rows = benchmark.main(["textenc", "--tiny", "--steps", "2"])
    shared, exact, full = rows
    assert [r["path"] for r in rows] == ["shared", "per-class", "full-77"]
    assert full["tokens"] == 77 and exact["tokens"] < 77
    assert full["GFLOP"] > exact["GFLOP"] > shared["GFLOP"] > 0
    assert full["saved MiB"] > exact["saved MiB"] > shared["saved MiB"] > 0
    assert shared["saved vs per-class"] == shared["saved MiB"] / exact["saved MiB"]
    assert exact["time vs per-class"] == 1.0 and shared["time vs per-class"] > 0
    assert exact["of peak"] == exact["TFLOP/s"] / exact["matmul TFLOP/s"]


def test_per_class_rows_give_the_shared_prefix_ratios():
    rows = benchmark.main(["--tiny", "--steps", "1", "--trainers", "CoOp_SAR", "--per-class"])
    assert [(r["trainer"], r["prefix"]) for r in rows] == [
        ("CoOp_SAR", "shared"), ("CoOp_SAR", "per-class")]
    assert rows[0]["shared/per-class saved"] == rows[0]["saved MiB"] / rows[1]["saved MiB"] < 1
    assert rows[1]["shared/per-class time"] is None


def test_rows_warm_up_first_then_time_interleaved(monkeypatch, capsys):
    """Issue 16.12: the first row paid the process's warm-up (SAR/base 0.33 one way round,
    22 the other). Every row now warms up before any is timed, then rows alternate."""
    order = []
    step = benchmark.run_step
    monkeypatch.setattr(benchmark, "run_step",
                        lambda built, index: (order.append(built.row.trainer), step(built, index)))
    rows = benchmark.main(["--tiny", "--steps", "3", "--warmup", "1",
                           "--trainers", "CoOp", "CoOp_SAR"])
    warm, saved, timed = order[:2], order[2:4], order[4:]
    assert warm == saved == ["CoOp", "CoOp_SAR"]
    assert timed == ["CoOp", "CoOp_SAR", "CoOp_SAR", "CoOp", "CoOp", "CoOp_SAR"]
    out = capsys.readouterr().out
    assert "nan" not in out and "| -" in out
    low, high = map(float, rows[0]["spread"].split("-"))
    assert low <= rows[0]["ms/step"] <= high


def test_saved_bytes_and_text_checkpoint_rows():
    rows = benchmark.main(["--tiny", "--steps", "1", "--trainers", "CoOp", "MaPLe_SAR",
                           "--text-checkpoint"])
    assert [(r["trainer"], r["text ckpt"]) for r in rows] == [
        ("CoOp", "-"), ("MaPLe_SAR", "-"), ("CoOp", "on"), ("MaPLe_SAR", "on")]
    assert all(r["saved MiB"] > 0 for r in rows)
    assert rows[2]["ckpt/plain saved"] == rows[2]["saved MiB"] / rows[0]["saved MiB"] < 1
    assert rows[0]["ckpt/plain time"] is None and rows[2]["ckpt/plain time"] > 0


def test_span_holds_the_median_it_is_printed_beside():
    """CI failure: min 10.16 printed as 10.2, above the median 10.19 in the same row."""
    assert benchmark.span([10.16, 10.19, 10.31]) == "10.1-10.4"
    assert benchmark.span([0.123, 0.5], 2) == "0.12-0.50"
    assert benchmark.span([4.0, 4.0], 0) == "4-4"
