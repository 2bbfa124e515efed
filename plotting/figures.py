"""Every figure the repository draws: similarity heatmaps, result plots, training curves.

One module, so that the result plots of every protocol share one bar and one line drawing, and
every PNG has a size known in advance (``DPI`` x inches; layouts are constrained, never
"tight", which would crop the canvas): the tests check the files against it. matplotlib runs on
the non-interactive Agg backend, so plots work on a cluster node without a display.
"""

import math
import os
import re

DPI = 100
PANEL = 4.0  # inches: the smallest heatmap panel, and the height of one result or curve panel
NAME_LIMIT = 24  # characters of a class name shown on a heatmap axis


def pyplot():
    """matplotlib.pyplot on Agg; a one-line ImportError when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def new_figure(width, height, rows=1, cols=1):
    """A figure of exactly ``width`` x ``height`` inches and its axes grid (always 2-D)."""
    plt = pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False,
                             layout="constrained")
    return fig, axes


def save(fig, path):
    """Write the PNG (creating its folder) and free the figure; returns its size in pixels."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    size = tuple(int(round(v * DPI)) for v in fig.get_size_inches())
    pyplot().close(fig)
    return size


# ---- similarity heatmaps -------------------------------------------------------------------


def heatmap_panel_inches(n_classes):
    """Side of one heatmap panel: room for ``n_classes`` names on each axis."""
    return max(PANEL, 1.6 + 0.13 * n_classes)


def heatmap_figure_inches(n_runs, n_classes):
    panel = heatmap_panel_inches(n_classes)
    return 3 * panel, n_runs * panel + 0.4


def _label_axes(ax, names, boundaries):
    fontsize = max(3.0, min(8.0, 360 / max(len(names), 1)))
    short = [n if len(n) <= NAME_LIMIT else n[: NAME_LIMIT - 1] + "…" for n in names]
    ticks = range(len(names))
    ax.set_xticks(ticks, short, rotation=90, fontsize=fontsize)
    ax.set_yticks(ticks, short, fontsize=fontsize)
    for edge in boundaries:
        ax.axhline(edge - 0.5, color="black", linewidth=0.8)
        ax.axvline(edge - 0.5, color="black", linewidth=0.8)


def heatmap_grid(rows, names, boundaries, title, path):
    """One row per run: hand-crafted, learned and learned - hand-crafted similarity matrices.

    ``rows``: (label, S_h, S_g) with numpy (n, n) matrices over ``names``; ``boundaries``:
    indices where a class group (base, new, novel) starts, drawn as lines. The two similarity
    panels of a row share one colour scale; the difference is centred on 0.
    """
    width, height = heatmap_figure_inches(len(rows), len(names))
    fig, axes = new_figure(width, height, len(rows), 3)
    for (label, S_h, S_g), ax_row in zip(rows, axes):
        low, high = min(S_h.min(), S_g.min()), max(S_h.max(), S_g.max())
        delta = S_g - S_h
        span = max(abs(delta).max(), 1e-6)
        panels = ((S_h, "hand-crafted", "viridis", low, high),
                  (S_g, "learned", "viridis", low, high),
                  (delta, "learned − hand-crafted", "coolwarm", -span, span))
        for ax, (matrix, what, cmap, vmin, vmax) in zip(ax_row, panels):
            image = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_title(f"{label}: {what}", fontsize=9)
            _label_axes(ax, names, boundaries)
            fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


# ---- result plots (parse_test_res.py --plot) -----------------------------------------------


def to_float(text):
    """A table cell as a number; NaN for a missing one ("", "—")."""
    try:
        return float(str(text).rstrip("*"))
    except ValueError:
        return math.nan


def result_figure_inches(n_categories, n_series, n_panels):
    return max(6.0, 1.5 + n_categories * (0.3 * n_series + 0.5)), n_panels * PANEL * 0.75


def grouped_bars(ax, categories, series, ylabel):
    """Bars per category, one colour per series; ``series``: (label, means, spreads or None)."""
    width = 0.8 / max(len(series), 1)
    for k, (label, means, spreads) in enumerate(series):
        x = [i + (k - (len(series) - 1) / 2) * width for i in range(len(categories))]
        ax.bar(x, means, width, yerr=spreads, capsize=2, label=label)
    ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)


def plot_base2new(records, path, spread="std", metric="accuracy"):
    """Base, new and HM (one panel each) per dataset and method, the Average column last.

    ``records``: parse_test_res's base-to-new rows (method, dataset, base, base_<spread>, new,
    new_<spread>, hm). Error bars show the seed spread; the HM of means has none.
    """
    methods = list(dict.fromkeys(r["method"] for r in records))
    datasets = list(dict.fromkeys(r["dataset"] for r in records))
    cell = {(r["method"], r["dataset"]): r for r in records}
    width, height = result_figure_inches(len(datasets), len(methods), 3)
    fig, axes = new_figure(width, height, 3, 1)
    for ax, (key, title) in zip(axes[:, 0], (("base", "Base"), ("new", "New"), ("hm", "HM"))):
        series = []
        for method in methods:
            rows = [cell.get((method, d), {}) for d in datasets]
            means = [to_float(r.get(key, "")) for r in rows]
            # no bar for a missing spread (one seed, the Average): NaN draws nothing
            spreads = None if key == "hm" else [to_float(r.get(f"{key}_{spread}", ""))
                                                for r in rows]
            series.append((method, means, spreads))
        grouped_bars(ax, datasets, series, f"{title} {metric} (%)")
    fig.suptitle(f"Base-to-new: mean over seeds, error bars ± {spread}", fontsize=10)
    return save(fig, path)


SHOTS = re.compile(r"(?:^|/)shots_(\d+)(?:/|$)")


def plot_experiments(rows, path, ylabel="accuracy (%)", spread="std"):
    """A result per experiment: bars (cross-dataset, domain generalization), or lines of
    accuracy against shots when every name holds a ``shots_N`` folder (few-shot).

    ``rows``: (name, mean, spread) with NaN for an experiment without a result.
    """
    if rows and all(SHOTS.search(name) for name, _, _ in rows):
        return _plot_shots(rows, path, ylabel, spread)
    width, height = result_figure_inches(len(rows), 1, 1)
    fig, axes = new_figure(width, height + 1)
    means = [mean for _, mean, _ in rows]
    spreads = [0.0 if math.isnan(s) else s for _, _, s in rows]
    grouped_bars(axes[0, 0], [name for name, _, _ in rows], [("mean", means, spreads)], ylabel)
    fig.suptitle(f"Mean over seeds, error bars ± {spread}", fontsize=10)
    return save(fig, path)


def _plot_shots(rows, path, ylabel, spread):
    lines = {}
    for name, mean, err in rows:
        shots = int(SHOTS.search(name).group(1))
        label = SHOTS.sub("/", name).strip("/") or "accuracy"
        lines.setdefault(label, []).append((shots, mean, 0.0 if math.isnan(err) else err))
    fig, axes = new_figure(7.0, PANEL + 1)
    ax = axes[0, 0]
    for label, points in lines.items():
        shots, means, errs = zip(*sorted(points))
        ax.errorbar(shots, means, yerr=errs, marker="o", capsize=3, label=label)
    all_shots = sorted({s for points in lines.values() for s, _, _ in points})
    ax.set_xscale("log", base=2)
    ax.set_xticks(all_shots, [str(s) for s in all_shots])
    ax.set_xlabel("shots per class")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.suptitle(f"Few-shot: mean over seeds, error bars ± {spread}", fontsize=10)
    return save(fig, path)


# ---- training curves -----------------------------------------------------------------------


def curves_figure_inches(n_curves):
    cols = min(3, max(n_curves, 1))
    rows = math.ceil(max(n_curves, 1) / cols)
    return cols * PANEL * 1.1, rows * PANEL * 0.75, rows, cols


def plot_curves(curves, path, title):
    """One panel per logged quantity: ``curves`` maps a name to (steps, values)."""
    width, height, n_rows, n_cols = curves_figure_inches(len(curves))
    fig, axes = new_figure(width, height, n_rows, n_cols)
    flat = list(axes.flat)
    for ax, (name, (steps, values)) in zip(flat, curves.items()):
        ax.plot(steps, values, marker="." if len(steps) < 50 else None)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("iteration", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in flat[len(curves):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)
