"""Robustness curves: accuracy or macro-F1 against eps for every model of a dataset (paper Fig. 1d,e).

Apart from ``scrobin.robustness.sweep`` (which attacks models) so that drawing the curves from the sweep
tables needs neither torch nor an attack library.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from scrobin.errors import ScrobinError
from scrobin.figures import save_figure
from scrobin.robustness.table import BRACKET_ATTACKS


def plot_robustness_curves(sweeps: pd.DataFrame, path: str | Path, metric: str = "accuracy",
                           budget: float | None = None) -> Figure:
    """Draw ``metric`` against eps, one panel per attack, one line per model (paper Fig. 1d,e),
    and for accuracy a last panel with each model's bracket of its true robust accuracy.

    Parameters
    ----------
    sweeps
        Sweep tables of every model stacked (columns ``model``, ``attack``, ``eps`` and the
        metric; ``bound`` (``upper`` for an attack, ``lower`` for a certified share, as the
        robustness rule writes them); a ``seed`` column when models were trained with several
        seeds). Repeated rows of a model, attack and eps (replicate seeds) are drawn as their mean
        with a band from the smallest to the largest value.
    path
        Output file; the format follows the suffix (``.png``, ``.svg``, ``.pdf``).
    metric
        ``accuracy`` or ``macro_f1``.
    budget
        The dataset's attack budget (scaled-expression units), drawn as a dotted vertical line.

    The bracket panel draws, per model and eps, the best attack's accuracy (the lowest of every
    attack's, the strongest attack included: an upper bound of the true robust accuracy) as a line
    and the best certified share (a lower bound) dashed, the band between them filled; a linear
    model's exact robust accuracy (closed form) is one line marked ``exact``.

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
    bound = sweeps["bound"] if "bound" in sweeps else pd.Series("upper", index=sweeps.index)
    attack_rows = sweeps[(bound == "upper") & ~sweeps["attack"].isin(BRACKET_ATTACKS)]
    attack_labels = list(dict.fromkeys(attack_rows["attack"]))
    bracket = metric == "accuracy" and ((bound == "lower").any() or sweeps["attack"].isin(BRACKET_ATTACKS).any())
    n_panels = len(attack_labels) + bracket
    figure = Figure(figsize=(4.2 * n_panels, 3.6), layout="constrained")
    axes = figure.subplots(1, n_panels, squeeze=False)[0]
    models = list(dict.fromkeys(sweeps["model"]))
    colour = {model: f"C{index}" for index, model in enumerate(models)}
    for axis, attack_label in zip(axes, attack_labels):
        for model_label in models:
            rows = attack_rows[(attack_rows["attack"] == attack_label) & (attack_rows["model"] == model_label)]
            if not rows.empty:
                _mean_line(axis, rows, metric, colour[model_label], model_label)
        _finish(axis, attack_label)
    if bracket:
        _draw_bracket(axes[-1], sweeps.assign(bound=bound), models, colour)
        # Outside the panels, under the models' legend: inside, it covered the curves' steep part.
        styles = [Line2D([], [], color="0.3", marker="o"), Line2D([], [], color="0.3", linestyle="--", marker="."),
                  Line2D([], [], color="0.3", marker="s")]
        figure.legend(styles, ["best attack (upper bound)", "certified (lower bound)", "exact (linear models)"],
                      title="bracket", loc="outside right lower", fontsize=7, frameon=False)
    _eps_axes(axes, sweeps["eps"])
    if budget is not None:
        for axis in axes:
            axis.axvline(budget, color="0.5", linestyle=":", linewidth=1)
        axes[0].annotate(f"budget {budget:g}", (budget, 1.0), xytext=(3, -3), textcoords="offset points",
                         fontsize=7, color="0.4", va="top")
    axes[0].set_ylabel(metric.replace("_", "-"))
    n_seeds = sweeps["seed"].nunique() if "seed" in sweeps else 1
    if n_seeds > 1:
        figure.suptitle(f"mean over {n_seeds} seeds, band: smallest to largest", fontsize=9)
    # One legend for the figure, one entry per model (a model may be in the bracket panel only).
    handles = [Line2D([], [], color=colour[model], marker="o") for model in models]
    figure.legend(handles, models, title="model", loc="outside right upper" if bracket else "outside right center",
                  frameon=False)
    save_figure(figure, path, tight=False)
    return figure


def _mean_line(axis, rows: pd.DataFrame, metric: str, colour: str, label: str, **style) -> pd.DataFrame:
    curve = rows.groupby("eps")[metric].agg(["mean", "min", "max", "count"])
    axis.plot(curve.index, curve["mean"], marker=style.pop("marker", "o"), color=colour, label=label, **style)
    if curve["count"].max() > 1:
        axis.fill_between(curve.index, curve["min"], curve["max"], color=colour, alpha=0.2, linewidth=0)
    return curve


def _draw_bracket(axis, sweeps: pd.DataFrame, models: list[str], colour: dict[str, str]) -> None:
    """Per model: the best attack (upper), the best certificate (lower, dashed), the band between."""
    keys = ["seed", "eps"] if "seed" in sweeps else ["eps"]
    for model in models:
        rows = sweeps[sweeps["model"] == model]
        exact = rows[rows["attack"] == "exact_linf"]
        if not exact.empty:
            _mean_line(axis, exact, "accuracy", colour[model], f"_{model}", marker="s")
            continue
        upper = rows[rows["bound"] == "upper"].groupby(keys)["accuracy"].min().groupby("eps").mean()
        lower = rows[rows["bound"] == "lower"].groupby(keys)["accuracy"].max().groupby("eps").mean()
        axis.plot(upper.index, upper.to_numpy(), color=colour[model], marker="o", label=f"_{model}")
        if not lower.empty:
            axis.plot(lower.index, lower.to_numpy(), color=colour[model], linestyle="--", marker=".", label=f"_{model}")
            shared = upper.index.intersection(lower.index)
            axis.fill_between(shared, lower.loc[shared], upper.loc[shared], color=colour[model], alpha=0.15, linewidth=0)
    _finish(axis, "true robust accuracy: the bracket")


def _eps_axes(axes, eps: pd.Series) -> None:
    """Linear up to the smallest positive eps, logarithmic beyond, ticks at 0 and 1-2-5 steps: the
    grid is geometric, and on a linear axis its small eps, where models differ, filled a tenth."""
    positive = eps[eps > 0]
    if positive.empty:
        return
    smallest, largest = float(positive.min()), float(positive.max())
    steps = [mantissa * 10.0 ** power for power in range(math.floor(math.log10(smallest)), math.ceil(math.log10(largest)) + 1)
             for mantissa in (1, 2, 5)]
    ticks = [0.0, smallest] + [step for step in steps if smallest * 1.8 <= step <= largest * 1.001]
    for axis in axes:
        axis.set_xscale("symlog", linthresh=smallest, linscale=0.5)
        axis.set_xlim(-0.02 * smallest, largest * 1.15)
        axis.xaxis.set_major_locator(FixedLocator(ticks))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.xaxis.set_minor_locator(NullLocator())


def _finish(axis, title: str) -> None:
    axis.set_title(title)
    axis.set_xlabel("eps")
    axis.set_ylim(-0.02, 1.02)


def plot_radii(radii: pd.DataFrame, path: str | Path, budget: float | None = None) -> Figure:
    """Box plots of the certified radius per cell type, one box per regime (the fragile types are
    the low ones); cells of every replicate pooled. A table without radii (certification off)
    gives a figure saying so.

    Parameters
    ----------
    radii
        The robustness rule's radius tables stacked (``regime``, ``cell_type``, ``radius``).
    path
        Output image.
    budget
        The dataset's attack budget, drawn as a dashed line: a type whose box lies below it has cells
        no certificate protects at the budget.
    """
    types = list(dict.fromkeys(radii["cell_type"])) if len(radii) else []
    regimes = list(dict.fromkeys(radii["regime"])) if len(radii) else []
    figure_width = 2.0 + 0.45 * len(types) * len(regimes) if types else 6.0  # the empty figure holds one sentence
    figure = Figure(figsize=(figure_width, 4.0), layout="constrained")
    axis = figure.subplots()
    if not types:
        axis.text(0.5, 0.5, "no certified radius: robustness.certified_radius is off", ha="center", va="center")
        axis.set_axis_off()
        save_figure(figure, path, tight=False)
        return figure
    width = 0.8 / len(regimes)
    for offset, regime in enumerate(regimes):
        rows = radii[radii["regime"] == regime]
        values = [rows.loc[rows["cell_type"] == cell_type, "radius"].to_numpy() for cell_type in types]
        positions = [index - 0.4 + width * (offset + 0.5) for index in range(len(types))]
        boxes = axis.boxplot(values, positions=positions, widths=width * 0.9, patch_artist=True, showfliers=False)
        for box in boxes["boxes"]:
            box.set(facecolor=f"C{offset}", alpha=0.6)
        axis.plot([], [], color=f"C{offset}", linewidth=6, alpha=0.6, label=regime)
    if budget is not None:
        axis.axhline(budget, color="0.4", linestyle="--", linewidth=1, label=f"attack budget ({budget:g})")
    axis.set_xticks(range(len(types)))
    axis.set_xticklabels(types, rotation=45, ha="right", fontsize=8)
    axis.set_ylabel("certified radius (eps, scaled units)")
    axis.set_title(f"largest certified eps per cell ({radii['method'].iloc[0]})", fontsize=9)
    axis.legend(title="regime", fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    save_figure(figure, path, tight=False)
    return figure
