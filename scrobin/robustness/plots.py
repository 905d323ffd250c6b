"""Robustness curves: accuracy or macro-F1 against eps for every model of a dataset (paper Fig. 1d,e).

Apart from ``scrobin.robustness.sweep`` (which attacks models) so that drawing the curves from the sweep
tables needs neither torch nor an attack library.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from scrobin.errors import ScrobinError
from scrobin.figures import save_figure


def plot_robustness_curves(
    tables: Mapping[str, pd.DataFrame], path: str | Path, metric: str = "accuracy"
) -> Figure:
    """Draw ``metric`` against eps, one panel per attack, one line per model (paper Fig. 1d,e).

    Parameters
    ----------
    tables
        Model label (e.g. standard, fgsm, pgd, logreg) -> its sweep table.
    path
        Output file; the format follows the suffix (``.png``, ``.svg``, ``.pdf``).
    metric
        ``accuracy`` or ``macro_f1``.
    """
    if metric not in ("accuracy", "macro_f1"):
        raise ScrobinError(f"metric {metric!r} is unknown: use accuracy or macro_f1")
    if not tables:
        raise ScrobinError("no sweep tables to plot: pass at least one model label -> table")
    attack_labels = list(dict.fromkeys(label for table in tables.values() for label in table["attack"]))
    figure = Figure(figsize=(4.2 * len(attack_labels), 3.6), layout="constrained")
    axes = figure.subplots(1, len(attack_labels), squeeze=False)[0]
    for axis, attack_label in zip(axes, attack_labels):
        for model_label, table in tables.items():
            curve = table[table["attack"] == attack_label].sort_values("eps")
            if len(curve):
                axis.plot(curve["eps"], curve[metric], marker="o", label=model_label)
        axis.set_title(attack_label)
        axis.set_xlabel("eps")
        axis.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel(metric.replace("_", "-"))
    # One legend for the figure: a model missing from the last panel must still be named.
    handles = {line.get_label(): line for axis in axes for line in axis.get_lines()}
    figure.legend(handles.values(), handles.keys(), title="model", loc="outside right center", frameon=False)
    save_figure(figure, path, tight=False)
    return figure
