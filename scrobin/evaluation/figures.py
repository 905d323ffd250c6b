"""Figures of the evaluation tables, drawn on matplotlib ``Figure`` objects (Agg, no pyplot state).

Each function reads one table as produced by the evaluation modules and writes one image, so a
workflow rule maps to one call. Tables of several regimes (a ``regime`` column) or repeated seeds
(repeated rows) are summarised as mean and standard deviation per method and regime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from scrobin.errors import ScrobinError
from scrobin.figures import save_figure
from scrobin.evaluation.ground_truth import ALL_TYPES


def _require(table: pd.DataFrame, columns: set[str], producer: str) -> None:
    missing = columns - set(table.columns)
    if missing:
        raise ScrobinError(f"table lacks column(s) {', '.join(sorted(missing))}: pass {producer} "
                           f"output")
    if table.empty:
        raise ScrobinError(f"table is empty: nothing to plot from {producer}")


def _method_regime_groups(table: pd.DataFrame):
    """Rows grouped by method and regime (empty regime when the table has none), input order."""
    regime = table["regime"] if "regime" in table else ""
    return table.assign(regime=regime).groupby(["method", "regime"], sort=False)


def _grouped_bars(axes, means: pd.Series, spreads: pd.Series) -> dict[tuple, float]:
    """Bars grouped by method (level 0) and coloured by regime (level 1); returns bar centres."""
    methods = list(dict.fromkeys(means.index.get_level_values(0)))
    regimes = list(dict.fromkeys(means.index.get_level_values(1)))
    width = 0.8 / len(regimes)
    centres = {}
    for offset, regime in enumerate(regimes):
        present = [method for method in methods if (method, regime) in means.index]
        positions = [methods.index(method) - 0.4 + width * (offset + 0.5) for method in present]
        errors = [spreads[(method, regime)] for method in present]
        axes.bar(positions, [means[(method, regime)] for method in present], width,
                 yerr=errors if any(errors) else None, capsize=2, label=regime or None,
                 color=f"C{offset}")
        centres.update({(method, regime): x for method, x in zip(present, positions)})
    axes.set_xticks(range(len(methods)))
    axes.set_xticklabels(methods, rotation=45, ha="right")
    if len(regimes) > 1:
        _legend_outside(axes, title="regime")
    return centres


def _legend_outside(axes, **settings) -> None:
    """The axes' legend right of the plot, where it cannot cover a bar (the saved figure is
    cropped to what is drawn, legend included)."""
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, **settings)


def plot_recovery(recovery: pd.DataFrame, path, cell_type: str = ALL_TYPES,
                  alpha: float = 0.05) -> Path:
    """Key genes recovered per method (bars) against the number expected by chance (black ticks).

    Parameters
    ----------
    recovery
        ``recovery_table`` output, possibly several regimes or seeds concatenated.
    path
        Output image.
    cell_type
        Row to plot: the ``all types`` summary (default) or one cell type.
    alpha
        A star marks bars whose p-value is below ``alpha`` in every repeated row.
    """
    _require(recovery, {"method", "cell_type", "recovered", "expected", "p_value", "top_n"},
             "recovery_table")
    rows = recovery[recovery["cell_type"].astype(str) == str(cell_type)]
    if rows.empty:
        raise ScrobinError(f"recovery table has no rows for cell type '{cell_type}': use "
                           f"'{ALL_TYPES}' or one of its cell types")
    groups = _method_regime_groups(rows)
    means = groups[["recovered", "expected"]].mean()
    spreads = groups[["recovered", "expected"]].std(ddof=0).fillna(0.0)
    worst_p = groups["p_value"].max()
    figure = Figure(figsize=(1.5 + 0.8 * len(means.index.get_level_values(0).unique()), 4.0))
    axes = figure.add_subplot()
    centres = _grouped_bars(axes, means["recovered"], spreads["recovered"])
    bar_width = 0.8 / len(means.index.get_level_values(1).unique())
    for key, x in centres.items():
        axes.hlines(means.loc[key, "expected"], x - bar_width / 2, x + bar_width / 2,
                    colors="black", linewidth=2)
        if worst_p[key] < alpha:
            axes.annotate("*", (x, means.loc[key, "recovered"] + spreads.loc[key, "recovered"]),
                          ha="center", va="bottom")
    axes.plot([], [], color="black", linewidth=2, label="expected by chance")
    _legend_outside(axes)
    top_n = int(rows["top_n"].max())
    axes.set_ylabel(f"key genes in top {top_n}" if cell_type != ALL_TYPES
                    else "key genes in each type's top list (summed)")
    axes.set_title(f"Key-gene recovery, {cell_type} (* p < {alpha})")
    return save_figure(figure, path)


def _venn(axes, left_only: int, both: int, right_only: int, labels: tuple[str, str]) -> None:
    """Two overlapping circles with the three region counts (fixed sizes: a schematic)."""
    for centre, colour in ((-0.5, "C0"), (0.5, "C1")):
        axes.add_patch(Circle((centre, 0.0), 1.0, alpha=0.35, color=colour))
    for x, count in ((-0.95, left_only), (0.0, both), (0.95, right_only)):
        axes.text(x, 0.0, str(count), ha="center", va="center", fontsize=11)
    for x, label in ((-0.9, labels[0]), (0.9, labels[1])):
        axes.text(x, 1.15, label, ha="center", va="bottom", fontsize=8)
    axes.set_xlim(-1.7, 1.7)
    axes.set_ylim(-1.2, 1.5)
    axes.set_aspect("equal")
    axes.set_axis_off()


def plot_de_venn(overlap: pd.DataFrame, path, ranking_label: str = "consensus", baseline_label: str = "DE") -> Path:
    """One Venn-style panel per cell type: a baseline's top genes (DE), top ranked genes and their overlap.

    The panel title gives the overlap expected by chance and its hypergeometric p-value.
    """
    _require(overlap, {"cell_type", "n_baseline", "n_ranked", "overlap", "expected", "p_value"},
             "de_overlap")
    per_type = overlap[overlap["cell_type"] != ALL_TYPES]
    n_panels = len(per_type)
    n_columns = min(4, n_panels)
    n_rows = -(-n_panels // n_columns)
    figure = Figure(figsize=(3.0 * n_columns, 2.6 * n_rows))
    for panel, row in enumerate(per_type.itertuples(index=False), start=1):
        axes = figure.add_subplot(n_rows, n_columns, panel)
        _venn(axes, int(row.n_baseline - row.overlap), int(row.overlap), int(row.n_ranked - row.overlap),
              (f"{baseline_label} ({row.n_baseline})", f"{ranking_label} ({row.n_ranked})"))
        axes.set_title(f"{row.cell_type}\nexpected {row.expected:.1f}, p = {row.p_value:.2g}",
                       fontsize=9)
    return save_figure(figure, path)


def plot_faithfulness(curves: pd.DataFrame, path) -> Path:
    """Deletion and insertion curves (mean true-class probability vs fraction of genes perturbed).

    One row of panels per regime when a ``regime`` column is present; the random reference is
    dashed grey; repeated runs of a ranking (seeds) are averaged.
    """
    _require(curves, {"ranking", "mode", "k", "fraction", "probability"}, "faithfulness")
    regimes = list(curves["regime"].unique()) if "regime" in curves else [None]
    figure = Figure(figsize=(9.0, 3.2 * len(regimes)))
    rankings = [name for name in curves["ranking"].unique() if name != "random"]
    for row, regime in enumerate(regimes):
        subset = curves if regime is None else curves[curves["regime"] == regime]
        for column, mode in enumerate(("deletion", "insertion")):
            axes = figure.add_subplot(len(regimes), 2, 2 * row + column + 1)
            for index, name in enumerate([*rankings, "random"]):
                # Repeated runs (seeds) of one ranking are averaged into one line.
                line = subset[(subset["ranking"] == name) & (subset["mode"] == mode)].groupby(
                    "fraction")["probability"].mean()
                style = {"color": "0.5", "linestyle": "--"} if name == "random" else {
                    "color": f"C{index}"}
                axes.plot(line.index, line.to_numpy(), label=name, **style)
            action = "removed" if mode == "deletion" else "inserted"
            axes.set_xlabel(f"top genes {action} (fraction of {int(subset['k'].max())})")
            axes.set_ylabel("true-class probability")
            axes.set_ylim(0.0, 1.02)
            axes.set_title(mode if regime is None else f"{mode}, {regime}")
            if row == 0 and column == 1:
                _legend_outside(axes)
    figure.tight_layout()
    return save_figure(figure, path)


def plot_stability(stability: pd.DataFrame, path) -> Path:
    """Mean sensitivity_max and infidelity per method, bars coloured by regime.

    Error bars are the standard error of the mean over the scored cells (``*_se`` columns); rows
    repeated per method and regime (seeds) are averaged, their SD over seeds shown where larger.
    """
    _require(stability, {"method", "sensitivity_max", "infidelity"}, "stability_scores rows")
    groups = _method_regime_groups(stability)
    means = groups[["sensitivity_max", "infidelity"]].mean()
    spreads = groups[["sensitivity_max", "infidelity"]].std(ddof=0).fillna(0.0)
    for metric in ("sensitivity_max", "infidelity"):
        if f"{metric}_se" in stability:
            spreads[metric] = np.maximum(spreads[metric], groups[f"{metric}_se"].mean())
    figure = Figure(figsize=(2.0 + 1.6 * len(means.index.get_level_values(0).unique()), 3.6))
    for panel, (metric, label) in enumerate((("sensitivity_max", "sensitivity (max)"),
                                             ("infidelity", "infidelity")), start=1):
        axes = figure.add_subplot(1, 2, panel)
        centres = _grouped_bars(axes, means[metric], spreads[metric])
        for key, x in centres.items():
            if np.isnan(means.loc[key, metric]):
                # Not a zero: the metric does not apply (an input-independent explanation).
                axes.annotate("n/a", (x, 0), ha="center", va="bottom", fontsize=7, rotation=90)
        axes.set_ylabel(f"{label}, lower is better")
    figure.tight_layout()
    return save_figure(figure, path)


def plot_sanity(sanity: pd.DataFrame, path) -> Path:
    """The sanity checks: each method's rank correlation with its trained-model importance as the
    layers are re-initialised, top first (lines), and for a random other class (markers).

    A method whose line stays high explains the data, not the model (Adebayo et al. 2018). One
    panel per regime; repeated rows (seeds) are averaged. The y axis is the mean per-type absolute
    Spearman correlation (a ranking turned around by a random sign is as much set by the input).
    """
    _require(sanity, {"method", "check", "layers_randomised", "spearman_abs_mean", "spearman_mean"},
             "sanity_checks")
    regimes = list(sanity["regime"].unique()) if "regime" in sanity else [None]
    methods = list(dict.fromkeys(sanity["method"]))
    figure = Figure(figsize=(1.5 + 4.0 * len(regimes), 3.6), layout="constrained")
    axes_list = figure.subplots(1, len(regimes), squeeze=False)[0]
    for axes, regime in zip(axes_list, regimes):
        rows = sanity if regime is None else sanity[sanity["regime"] == regime]
        for index, method in enumerate(methods):
            own = rows[rows["method"] == method]
            curve = own[own["check"] == "model_randomisation"].groupby("layers_randomised")["spearman_abs_mean"].mean()
            # Nothing randomised: the trained model's ranking against itself.
            curve = pd.concat([pd.Series({0: 1.0}), curve])
            axes.plot(curve.index, curve.to_numpy(), marker="o", color=f"C{index}", label=method)
            logit = own[own["check"] == "random_logit"]["spearman_abs_mean"].mean()
            axes.scatter([curve.index.max() + 0.6], [logit], marker="x", color=f"C{index}")
        axes.set_xticks(list(range(int(rows["layers_randomised"].max()) + 1)) + [rows["layers_randomised"].max() + 0.6])
        axes.set_xticklabels([str(k) for k in range(int(rows["layers_randomised"].max()) + 1)] + ["random\nclass"])
        axes.set_xlabel("layers re-initialised, top first")
        axes.set_ylabel("|Spearman| with the trained model")
        axes.set_ylim(-0.02, 1.02)
        axes.set_title("sanity checks" if regime is None else f"sanity checks, {regime}", fontsize=9)
    handles = {line.get_label(): line for axes in axes_list for line in axes.get_lines()}
    figure.legend(handles.values(), handles.keys(), title="method", loc="outside right center", frameon=False,
                  fontsize=7)
    return save_figure(figure, path, tight=False)