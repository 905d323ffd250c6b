"""Robustness curves: accuracy or macro-F1 against eps for every model of a dataset (paper Fig. 1d,e).

Apart from ``scrobin.robustness.sweep`` (which attacks models) so that drawing the curves from the sweep
tables needs neither torch nor an attack library.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from scrobin.errors import ScrobinError
from scrobin.figures import save_figure


def plot_robustness_curves(sweeps: pd.DataFrame, path: str | Path, metric: str = "accuracy") -> Figure:
    """Draw ``metric`` against eps, one panel per attack, one line per model (paper Fig. 1d,e).

    Parameters
    ----------
    sweeps
        Sweep tables of every model stacked (columns ``model``, ``attack``, ``eps`` and the
        metric; a ``seed`` column when models were trained with several seeds). Repeated rows of a
        model, attack and eps (replicate seeds) are drawn as their mean with a band from the
        smallest to the largest value.
    path
        Output file; the format follows the suffix (``.png``, ``.svg``, ``.pdf``).
    metric
        ``accuracy`` or ``macro_f1``.

    Raises
    ------
    ScrobinError
        For an unknown metric or a table without sweep rows.
    """
    if metric not in ("accuracy", "macro_f1"):
        raise ScrobinError(f"metric {metric!r} is unknown: use accuracy or macro_f1")
    missing = {"model", "attack", "eps", metric} - set(sweeps.columns)
    if missing or sweeps.empty:
        raise ScrobinError(f"no sweep rows to plot (missing columns: {', '.join(sorted(missing)) or 'none'}): "
                           f"pass the robustness rule's tables")
    attack_labels = list(dict.fromkeys(sweeps["attack"]))
    figure = Figure(figsize=(4.2 * len(attack_labels), 3.6), layout="constrained")
    axes = figure.subplots(1, len(attack_labels), squeeze=False)[0]
    for axis, attack_label in zip(axes, attack_labels):
        for index, model_label in enumerate(dict.fromkeys(sweeps["model"])):
            rows = sweeps[(sweeps["attack"] == attack_label) & (sweeps["model"] == model_label)]
            if rows.empty:
                continue
            curve = rows.groupby("eps")[metric].agg(["mean", "min", "max", "count"])
            axis.plot(curve.index, curve["mean"], marker="o", color=f"C{index}", label=model_label)
            if curve["count"].max() > 1:
                axis.fill_between(curve.index, curve["min"], curve["max"], color=f"C{index}", alpha=0.2,
                                  linewidth=0)
        axis.set_title(attack_label)
        axis.set_xlabel("eps")
        axis.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel(metric.replace("_", "-"))
    n_seeds = sweeps["seed"].nunique() if "seed" in sweeps else 1
    if n_seeds > 1:
        figure.suptitle(f"mean over {n_seeds} seeds, band: smallest to largest", fontsize=9)
    # One legend for the figure: a model missing from the last panel must still be named.
    handles = {line.get_label(): line for axis in axes for line in axis.get_lines()}
    figure.legend(handles.values(), handles.keys(), title="model", loc="outside right center", frameon=False)
    save_figure(figure, path, tight=False)
    return figure
