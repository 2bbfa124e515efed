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


DIFF_FLOOR = 0.05  # smallest half-range of the difference scale: float noise stays pale
LABEL_POINTS = 8.0  # class-name size: still about 8 px when the figure fits a page column
GROUP_POINTS = 10.0
TITLE_POINTS = 10.0


def heatmap_panel_inches(n_classes):
    """Side of one heatmap panel: fixed, so the figure keeps its width at any class count
    (names are thinned instead, see ``label_step``)."""
    return PANEL


def heatmap_figure_inches(n_runs, n_classes):
    panel = heatmap_panel_inches(n_classes)
    return 3 * panel + 1.2, n_runs * panel + 0.6


def label_step(n_classes, panel_inches=PANEL, points=LABEL_POINTS):
    """Show every k-th class name, so that names of ``points`` fit the panel's side: a name
    needs about 1.4 times its size of room (the matrix takes about 70% of the panel)."""
    room = panel_inches * 0.7 * 72 / max(n_classes, 1)  # points per class on the axis
    return max(1, math.ceil(points * 1.4 / room))


def difference_limits(deltas, floor=DIFF_FLOOR):
    """One symmetric colour scale for every difference panel: (-span, span) with span the
    largest |learned - hand-crafted| of all runs, and at least ``floor``, so two runs compare
    by colour and a change of 1e-4 is drawn pale, never as saturated stripes."""
    largest = max((float(abs(delta).max()) for delta in deltas), default=0.0)
    span = max(largest, floor)
    return -span, span


def _label_axes(ax, names, groups):
    """Thinned class names on both axes, group lines, and the group names (base, new, novel)
    on the top and right edges."""
    step = label_step(len(names))
    short = [n if len(n) <= NAME_LIMIT else n[: NAME_LIMIT - 1] + "…" for n in names]
    ticks = list(range(0, len(names), step))
    ax.set_xticks(ticks, [short[i] for i in ticks], rotation=90, fontsize=LABEL_POINTS)
    ax.set_yticks(ticks, [short[i] for i in ticks], fontsize=LABEL_POINTS)
    start, centres = 0, []
    for name, count in groups:
        if start:
            ax.axhline(start - 0.5, color="black", linewidth=1.0)
            ax.axvline(start - 0.5, color="black", linewidth=1.0)
        centres.append((start + (count - 1) / 2, name))  # counts: in the title
        start += count
    top = ax.secondary_xaxis("top")
    top.set_xticks([c for c, _ in centres], [t for _, t in centres], fontsize=GROUP_POINTS,
                   fontweight="bold")
    right = ax.secondary_yaxis("right")
    right.set_yticks([c for c, _ in centres], [t for _, t in centres], fontsize=GROUP_POINTS,
                     fontweight="bold", rotation=90, va="center")
    for axis in (top, right):
        axis.tick_params(length=0)


def heatmap_grid(rows, names, groups, title, path):
    """One row per run: hand-crafted, learned and learned - hand-crafted similarity matrices.

    ``rows``: (label, S_h, S_g) with numpy (n, n) matrices over ``names``; ``groups``: (name,
    count) of the class groups in order (base, new, novel), drawn as lines, named on the axes
    and counted in the title. The two similarity panels of a row share one colour scale; every
    difference panel shares one symmetric scale (``difference_limits``), so the rows compare by
    colour.
    """
    width, height = heatmap_figure_inches(len(rows), len(names))
    fig, axes = new_figure(width, height, len(rows), 3)
    diff_low, diff_high = difference_limits([S_g - S_h for _, S_h, S_g in rows])
    for (label, S_h, S_g), ax_row in zip(rows, axes):
        low, high = min(S_h.min(), S_g.min()), max(S_h.max(), S_g.max())
        panels = ((S_h, "hand-crafted", "viridis", low, high),
                  (S_g, "learned", "viridis", low, high),
                  (S_g - S_h, "learned − hand-crafted", "coolwarm", diff_low, diff_high))
        for ax, (matrix, what, cmap, vmin, vmax) in zip(ax_row, panels):
            image = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_title(f"{label}: {what}", fontsize=TITLE_POINTS)
            _label_axes(ax, names, groups)
            colorbar = fig.colorbar(image, ax=ax, shrink=0.8)
            colorbar.ax.tick_params(labelsize=LABEL_POINTS)
    counts = ", ".join(f"{name} {count}" for name, count in groups)
    fig.suptitle(f"{title} ({counts})", fontsize=TITLE_POINTS + 1)
    return save(fig, path)


# ---- result plots (parse_test_res.py --plot) -----------------------------------------------


def to_float(text):
    """A table cell as a number; NaN for a missing one ("", "—")."""
    try:
        return float(str(text).rstrip("*"))
    except ValueError:
        return math.nan


LEGEND_ROOM = 1.6  # inches right of the panels: the legend stands beside the bars, not on them
ZOOM_MARGIN = 0.15  # share of the data's range added below and above a zoomed axis


def result_figure_inches(n_categories, n_series, n_panels):
    width = max(6.0, 1.5 + n_categories * (0.3 * n_series + 0.5)) + LEGEND_ROOM
    return width, n_panels * PANEL * 0.75


def zoom_limits(lows, highs, floor=0.0, ceiling=100.0):
    """(bottom, top, zoomed) of a percent axis that shows differences of a few points.

    The axis spans the data (bar tops and error-bar ends) with a margin, clipped to
    [floor, ceiling]; ``zoomed`` is True when it does not start at ``floor``, which the axis
    label then says, since a bar's height no longer reads as its value.
    """
    lows = [v for v in lows if not math.isnan(v)]
    highs = [v for v in highs if not math.isnan(v)]
    if not lows:
        return floor, ceiling, False
    low, high = min(lows), max(highs)
    margin = max((high - low) * ZOOM_MARGIN, 1.0)
    bottom = max(floor, low - margin)
    top = min(ceiling, high + margin)
    if bottom - floor < (top - bottom) * 0.5:  # the zoom would gain little: start at the floor
        bottom = floor
    return bottom, top, bottom > floor


def grouped_bars(ax, categories, series, ylabel, legend=True):
    """Bars per category, one colour per series, each labelled with its value; ``series``:
    (label, means, spreads or None). A NaN spread (one seed) draws no error bar at all."""
    width = 0.8 / max(len(series), 1)
    lows, highs = [], []
    for k, (label, means, spreads) in enumerate(series):
        x = [i + (k - (len(series) - 1) / 2) * width for i in range(len(categories))]
        errors = spreads if spreads and any(not math.isnan(e) for e in spreads) else None
        ax.bar(x, means, width, yerr=errors, capsize=2, label=label)
        spread = errors or [math.nan] * len(means)
        lows += [m - (0 if math.isnan(e) else e) for m, e in zip(means, spread)]
        highs += [m + (0 if math.isnan(e) else e) for m, e in zip(means, spread)]
        for position, mean, high in zip(x, means, highs[-len(means):]):
            if not math.isnan(mean):  # the value, above its error bar
                ax.annotate(f"{mean:.1f}", (position, high), xytext=(0, 2), ha="center",
                            va="bottom", textcoords="offset points", fontsize=7)
    bottom, top, zoomed = zoom_limits(lows, [h + _label_room(lows, highs) for h in highs])
    ax.set_ylim(bottom, top)
    ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel + (f"\n(axis zoomed: from {bottom:.0f})" if zoomed else ""))
    ax.grid(axis="y", alpha=0.3)
    if legend:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _label_room(lows, highs):
    """Headroom above the tallest bar for its value label."""
    values = [v for v in lows + highs if not math.isnan(v)]
    return 0.06 * (max(values) - min(values) + 2.0) if values else 0.0


def without_lone_average(datasets):
    """The Average of a single dataset only repeats it: leave it out of the plot."""
    real = [d for d in datasets if d != "Average"]
    return real if len(real) == 1 else datasets


def plot_base2new(records, path, spread="std", metric="accuracy"):
    """Base, new and HM (one panel each) per dataset and method, the Average column last.

    ``records``: parse_test_res's base-to-new rows (method, dataset, base, base_<spread>, new,
    new_<spread>, hm). Error bars show the seed spread; the HM of means has none, nor has a
    cell of one seed (its spread is empty).
    """
    methods = list(dict.fromkeys(r["method"] for r in records))
    datasets = without_lone_average(list(dict.fromkeys(r["dataset"] for r in records)))
    cell = {(r["method"], r["dataset"]): r for r in records}
    width, height = result_figure_inches(len(datasets), len(methods), 3)
    fig, axes = new_figure(width, height, 3, 1)
    any_spread = False
    for k, (ax, (key, title)) in enumerate(
            zip(axes[:, 0], (("base", "Base"), ("new", "New"), ("hm", "HM")))):
        series = []
        for method in methods:
            rows = [cell.get((method, d), {}) for d in datasets]
            means = [to_float(r.get(key, "")) for r in rows]
            spreads = None if key == "hm" else [to_float(r.get(f"{key}_{spread}", ""))
                                                for r in rows]
            any_spread |= bool(spreads) and any(not math.isnan(v) for v in spreads)
            series.append((method, means, spreads))
        grouped_bars(ax, datasets, series, f"{title} {metric} (%)", legend=k == 0)
    bars = f"error bars ± {spread}" if any_spread else "one seed: no error bars"
    fig.suptitle(f"Base-to-new: mean over seeds, {bars}", fontsize=10)
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
    spreads = [s for _, _, s in rows]  # NaN: one run, no error bar
    grouped_bars(axes[0, 0], [name for name, _, _ in rows], [("mean", means, spreads)], ylabel,
                 legend=False)
    fig.suptitle(_bars_title(spreads, spread, "Mean over seeds", "One run each: no error bars"),
                 fontsize=10)
    return save(fig, path)


def _bars_title(spreads, spread, over_seeds, one_run):
    """The title ``over_seeds`` with its error bars, or ``one_run`` when no point has any."""
    if any(not math.isnan(v) for v in spreads):
        return f"{over_seeds}, error bars ± {spread} (none where one run)"
    return one_run


def _plot_shots(rows, path, ylabel, spread):
    lines = {}
    for name, mean, err in rows:
        shots = int(SHOTS.search(name).group(1))
        label = SHOTS.sub("/", name).strip("/") or "accuracy"
        lines.setdefault(label, []).append((shots, mean, err))
    fig, axes = new_figure(7.0 + LEGEND_ROOM, PANEL + 1)
    ax = axes[0, 0]
    for label, points in lines.items():
        shots, means, errs = zip(*sorted(points))
        known = any(not math.isnan(e) for e in errs)  # NaN: one run, no zero-width bar
        ax.errorbar(shots, means, yerr=list(errs) if known else None, marker="o", capsize=3,
                    label=label)
    all_shots = sorted({s for points in lines.values() for s, _, _ in points})
    ax.set_xscale("log", base=2)
    ax.set_xticks(all_shots, [str(s) for s in all_shots])
    ax.set_xlabel("shots per class")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    errors = [e for points in lines.values() for _, _, e in points]
    fig.suptitle(_bars_title(errors, spread, "Few-shot: mean over seeds",
                             "Few-shot: one run each, no error bars"), fontsize=10)
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
