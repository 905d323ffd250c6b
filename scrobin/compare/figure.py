"""The comparison figure: regimes side by side per dataset (accuracy, key genes vs chance,
faithfulness, stability)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scrobin.errors import ScrobinError
from scrobin.figures import save_figure
from matplotlib.figure import Figure


@dataclass(frozen=True)
class _Panel:
    """One panel of the comparison figure: a bar per dataset and regime, optional overlays."""

    title: str
    ylabel: str
    bars: str
    markers: tuple[tuple[str, str, str], ...] = ()  # (column, marker, legend label)
    chance: str | None = None
    p_value: str | None = None


def _comparison_panels(summary: pd.DataFrame) -> list[_Panel]:
    """The panels :func:`plot_comparison` draws, with one robust-accuracy marker per attack found."""
    attacks = [column.removeprefix("robust_accuracy_") for column in summary.columns
               if column.startswith("robust_accuracy_")]
    budgets = summary["attack_eps"].dropna().unique() if "attack_eps" in summary else []
    eps_label = f"eps ~{budgets[0]:g}" if len(budgets) == 1 else "each dataset's attack budget"
    attack_markers = tuple((f"robust_accuracy_{attack}", marker, f"{attack}, {eps_label}")
                           for attack, marker in zip(attacks, itertools.cycle("v^sDPX*")))

    def with_mean(column: str) -> tuple[tuple[str, str, str], ...]:
        return ((f"{column}_methods_mean", "o", "mean over methods"),)

    return [
        _Panel("Accuracy", "clean (bars), attacked (markers)", "accuracy", attack_markers),
        _Panel("Key genes, consensus", "key genes in top lists (line: chance)", "key_genes_recovered_consensus",
               with_mean("key_genes_recovered"), chance="key_genes_expected", p_value="key_genes_p_value_consensus"),
        _Panel("Deletion gain, consensus", "deletion AUC gain over random", "deletion_gain_consensus",
               with_mean("deletion_gain")),
        _Panel("Insertion gain, consensus", "insertion AUC gain over random", "insertion_gain_consensus",
               with_mean("insertion_gain")),
        _Panel("Sensitivity, mean over methods", "sensitivity_max (lower: stabler)", "sensitivity_max_methods_mean"),
        _Panel("Infidelity, mean over methods", "infidelity (lower: more faithful)", "infidelity_methods_mean"),
    ]


def plot_comparison(summary: pd.DataFrame, path: str | Path, alpha: float = 0.05) -> Path:
    """Regimes side by side per dataset: accuracy, key genes vs chance, faithfulness, stability.

    Parameters
    ----------
    summary
        :func:`summary_table` output.
    path
        Output image; the format follows the suffix.
    alpha
        A star marks key-gene counts whose p-value is below ``alpha``.

    Returns
    -------
    pathlib.Path
        ``path``. A panel whose measure no dataset has (key genes without truth or markers) says so.
    """
    missing = {"dataset", "regime"} - set(summary.columns)
    if missing or summary.empty:
        raise ScrobinError("summary is empty or lacks dataset/regime columns: pass summary_table output")
    panels = _comparison_panels(summary)
    regimes = list(dict.fromkeys(summary["regime"]))
    n_columns = 3
    n_rows = math.ceil(len(panels) / n_columns)
    n_datasets = summary["dataset"].nunique()
    figure = Figure(figsize=(2.0 + (1.0 + 1.4 * n_datasets) * n_columns, 3.2 * n_rows), layout="constrained")
    axes = figure.subplots(n_rows, n_columns, squeeze=False).ravel()
    for axis, panel in zip(axes, panels):
        _draw_panel(axis, summary, panel, regimes, alpha)
    for axis in axes[len(panels):]:
        axis.set_axis_off()
    handles = {}
    for axis in axes:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    labels = sorted(handles, key=lambda label: label not in regimes)  # regimes first, then overlays
    figure.legend([handles[label] for label in labels], labels, loc="outside right center", frameon=False,
                  fontsize=8)
    return save_figure(figure, path)


def _draw_panel(axis, summary: pd.DataFrame, panel: _Panel, regimes: list[str], alpha: float) -> None:
    axis.set_title(panel.title, fontsize=9)
    values = summary[panel.bars] if panel.bars in summary else pd.Series(np.nan, index=summary.index)
    shown = summary[values.notna()]
    if shown.empty:
        axis.text(0.5, 0.5, "not available for these datasets", ha="center", va="center",
                  transform=axis.transAxes, fontsize=8)
        axis.set_axis_off()
        return
    datasets = list(dict.fromkeys(shown["dataset"]))
    width = 0.8 / len(regimes)
    for offset, regime in enumerate(regimes):
        rows = shown[shown["regime"] == regime].set_index("dataset").reindex(datasets)
        centres = np.arange(len(datasets)) - 0.4 + width * (offset + 0.5)
        # Error bars: the spread over replicate seeds, when there are several.
        spread = rows[f"{panel.bars}_sd"] if f"{panel.bars}_sd" in rows else None
        axis.bar(centres, rows[panel.bars], width, yerr=spread, capsize=2, color=f"C{offset}", alpha=0.7,
                 label=regime)
        for index, (column, marker, label) in enumerate(panel.markers):
            # Markers side by side within the bar, so equal values of two attacks stay visible.
            shift = (index - (len(panel.markers) - 1) / 2) * width / (len(panel.markers) + 1)
            if column in rows:
                axis.scatter(centres + shift, rows[column], marker=marker, color="black", s=18, zorder=3,
                             label=label)
        if panel.chance:
            axis.hlines(rows[panel.chance], centres - width / 2, centres + width / 2, colors="black",
                        linewidth=2, zorder=3, label="expected by chance")
        if panel.p_value:
            # Above everything drawn at the bar (its error bar, the overlay markers), never under them.
            tops = pd.concat([rows[panel.bars] + (spread.fillna(0) if spread is not None else 0),
                              *(rows[column] for column, _, _ in panel.markers if column in rows)], axis=1).max(axis=1)
            for x, top, p_value in zip(centres, tops, rows[panel.p_value]):
                if p_value < alpha:
                    axis.annotate("*", (x, top), xytext=(0, 2), textcoords="offset points", ha="center",
                                  va="bottom", fontsize=11, fontweight="bold")
    axis.set_xticks(range(len(datasets)))
    axis.set_xticklabels(datasets)
    axis.set_ylabel(panel.ylabel, fontsize=8)
    if panel.p_value:
        axis.set_xlabel(f"* p < {alpha}", fontsize=7)
