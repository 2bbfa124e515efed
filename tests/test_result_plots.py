"""parse_test_res.py --plot: the base-to-new plot from real tiny runs, and the plots of the other
protocols (bars per experiment, accuracy against shots) from the same one plotting module."""

import io
import os
import sys

import pytest

import parse_test_res
import train
from plotting import figures as plotting
from tests.helpers import eurosat_setup, eval_on_new, png_size, train_argv

METHODS = {"CoOp": "CoOp/vit_b16_ctxv1", "CoOp_SAR": "CoOp_SAR/vit_b16_ctxv1"}


@pytest.fixture(scope="module")
def b2n(tmp_path_factory):
    """output/base2new as the scripts lay it out: CoOp and CoOp_SAR, seeds 1 and 2, EuroSAT."""
    root, clip, base = eurosat_setup(tmp_path_factory, "results")
    top = base / "base2new"
    for trainer, config in METHODS.items():
        for seed in (1, 2):
            tail = os.path.join("eurosat", "shots_16", trainer, "vit_b16_ctxv1", f"seed{seed}")
            seed_opts = ["--seed", str(seed)]
            train_dir, test_dir = top / "train_base" / tail, top / "test_new" / tail
            base_opts = ["DATASET.SUBSAMPLE_CLASSES", "base"]
            assert train.main(train_argv(root, clip, train_dir, trainer, config, *seed_opts,
                                         opts=base_opts)) == 0
            flags = [*seed_opts, *eval_on_new(train_dir)]
            assert train.main(train_argv(root, clip, test_dir, trainer, config, *flags)) == 0
    return top


def parse(argv):
    out = io.StringIO()
    return parse_test_res.main([str(a) for a in argv], out=out), out.getvalue()


def expected_px(width, height):
    return round(width * plotting.DPI), round(height * plotting.DPI)


def test_base2new_plot_from_tiny_runs(b2n, tmp_path):
    png = tmp_path / "plots" / "results.png"
    code, out = parse([b2n, "--base2new", "--plot", png])
    assert code == 0 and f"Plot: {png}" in out
    assert "| EuroSAT" in out and "CoOp_SAR Base" in out  # the table is still printed
    # one category (the Average of one dataset repeats it), two methods, panels Base, New, HM
    assert png_size(png) == expected_px(*plotting.result_figure_inches(1, 2, 3))


def test_records_reach_the_plot_with_their_seed_spread(b2n, tmp_path, monkeypatch):
    seen = {}

    def spy(records, path, spread, metric):
        seen.update(records=records, spread=spread, metric=metric)
        return (1, 1)

    monkeypatch.setattr(plotting, "plot_base2new", spy)
    code, _ = parse([b2n, "--base2new", "--ci95", "--plot", tmp_path / "x.png"])
    assert code == 0 and seen["spread"] == "95% CI" and seen["metric"] == "accuracy"
    cells = {(r["method"], r["dataset"]) for r in seen["records"]}
    assert cells == {(m, d) for m in METHODS for d in ("EuroSAT", "Average")}
    eurosat = [r for r in seen["records"] if r["dataset"] == "EuroSAT"]
    assert all(r["base_seeds"] == "1 2" and "base_95% CI" in r for r in eurosat)


def write_result(folder, accuracy):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "log.txt"), "w") as f:
        f.write(f"Evaluate on the *test* set\n* accuracy: {accuracy}%\n")


def test_cross_dataset_bars_and_few_shot_lines(tmp_path):
    for i, target in enumerate(("caltech101", "dtd", "imagenet_sketch")):
        for seed in (1, 2):
            write_result(tmp_path / "xd" / target / f"seed{seed}", 60 + i + seed)
    png = tmp_path / "xd.png"
    code, out = parse([tmp_path / "xd", "--multi-exp", "--test-log", "--plot", png])
    assert code == 0 and "Plot:" in out
    width, height = plotting.result_figure_inches(3, 1, 1)
    assert png_size(png) == expected_px(width, height + 1)  # one panel, room for the names
    names = []
    for shots in (1, 2, 4):
        for method in ("KgCoOp", "KgCoOp_SAR"):
            name = f"shots_{shots}/{method}/vit_b16_ep100_ctxv1"
            names.append(name)
            for seed in (1, 2):
                write_result(tmp_path / "fs" / name / f"seed{seed}", 30 + shots + seed)
    png = tmp_path / "fewshot.png"
    code, _ = parse([tmp_path / "fs", "--multi-exp", "--test-log", "--plot", png,
                     "--datasets", *names])
    width = 7.0 + plotting.LEGEND_ROOM
    assert code == 0 and png_size(png) == expected_px(width, plotting.PANEL + 1)


def test_plot_needs_a_table_and_matplotlib(b2n, tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit) as stop:
        parse([b2n, "--plot", tmp_path / "x.png"])
    assert stop.value.code == 2 and "--base2new or --multi-exp" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    code, _ = parse([b2n, "--base2new", "--plot", tmp_path / "x.png"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err == "error: --plot: plotting needs matplotlib: pip install matplotlib"
    assert not (tmp_path / "x.png").exists()


def drawn_figure(monkeypatch, draw):
    """The matplotlib figure a plotting function would save (kept open for inspection)."""
    kept = {}

    def keep(fig, path):
        kept["fig"] = fig
        return (1, 1)

    monkeypatch.setattr(plotting, "save", keep)
    draw()
    return kept["fig"]


def b2n_records(datasets, spread="0.8"):
    records = []
    for method, (base, new) in {"CoOp": (97.5, 76.1), "CoOp_SAR": (96.8, 90.2)}.items():
        for dataset in datasets:
            records.append({"method": method, "dataset": dataset, "base": str(base),
                            "base_std": spread, "new": str(new), "new_std": spread,
                            "hm": f"{hm(base, new):.2f}"})
    return records


def hm(base, new):
    return 2 * base * new / (base + new)


def test_results_legend_outside_zoomed_axis_and_value_labels(monkeypatch):
    fig = drawn_figure(monkeypatch, lambda: plotting.plot_base2new(
        b2n_records(["EuroSAT", "DTD", "Average"]), "x.png"))
    base_ax = fig.axes[0]
    fig.canvas.draw()
    legend = base_ax.get_legend().get_window_extent()
    assert legend.x0 >= base_ax.get_window_extent().x1  # beside the bars, never on them
    bottom, top = base_ax.get_ylim()
    assert 90 < bottom < 96.8 and 97.5 < top <= 100  # a few points apart stay visible
    assert "axis zoomed" in base_ax.get_ylabel()
    labels = {t.get_text() for t in base_ax.texts}
    assert {"97.5", "96.8"} <= labels


def test_one_dataset_has_no_average_and_one_seed_no_error_bars(monkeypatch):
    fig = drawn_figure(monkeypatch, lambda: plotting.plot_base2new(
        b2n_records(["EuroSAT", "Average"], spread=""), "x.png"))
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["EuroSAT"]
    assert not any(c.errorbar for ax in fig.axes for c in ax.containers
                   if getattr(c, "errorbar", None))  # no zero-width error bars
    assert "no error bars" in fig._suptitle.get_text()


def test_zoom_starts_at_zero_when_the_data_spread_widely():
    assert plotting.zoom_limits([10.0, 90.0], [12.0, 92.0])[::2] == (0.0, False)
    bottom, top, zoomed = plotting.zoom_limits([95.0, 97.0], [96.0, 98.0])
    assert zoomed and 90 < bottom < 95 and 98 < top <= 100


def test_experiment_bars_of_one_run_draw_no_error_bar(monkeypatch):
    import math

    fig = drawn_figure(monkeypatch, lambda: plotting.plot_experiments(
        [("dtd", 50.0, math.nan), ("eurosat", 60.0, math.nan)], "x.png"))
    assert not any(getattr(c, "errorbar", None) for c in fig.axes[0].containers)
    assert "no error bars" in fig._suptitle.get_text()
