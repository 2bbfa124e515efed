"""tools/gpu_report.py --tiny: every section runs end to end on the CPU and lands in the report."""

from tools import gpu_report


def test_tiny_report_runs_every_section(tmp_path):
    out = tmp_path / "report.md"
    text = gpu_report.main(["--tiny", "--out", str(out)])
    assert out.read_text() == text
    for title, _tool, _arguments in gpu_report.SECTIONS:
        assert f"## {title}" in text
    assert "skipped" not in text
    assert text.count("| trainer ") >= 9 and "| evaluation " in text and "TFLOP/s" in text


def test_the_budget_skips_the_remaining_sections_visibly(tmp_path):
    text = gpu_report.main(["--tiny", "--budget", "0", "--out", str(tmp_path / "r.md")])
    assert text.count("skipped: the time budget") == len(gpu_report.SECTIONS)
