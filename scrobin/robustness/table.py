"""The robustness table: its columns, the labels of its rows and their metric columns, and the certified radii per group.

Kept free of torch, so the rules that read the tables (the curves, the comparison) need neither
torch nor an attack library. One row per model, attack (or certificate) and eps; ``bound`` says
what a row is of the model's true robust accuracy: ``upper`` (an attack's accuracy), ``lower`` (a
certified share, :mod:`scrobin.robustness.bracket`) or ``exact`` (a linear model's worst case,
:mod:`scrobin.robustness.linear_exact`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scrobin.metrics import accuracy_macro_f1

TABLE_COLUMNS = ("attack", "name", "backend", "norm", "eps", "accuracy", "macro_f1", "n_cells",
                 "accuracy_ci_low", "accuracy_ci_high")
# Wilson score interval of the accuracy: the sweep attacks a sample of test cells (robustness.n_cells).
CONFIDENCE = 0.95
# The worst case over every attack at an eps (a cell counts only if no attack breaks it).
STRONGEST = "strongest"
# Rows of certificates: certified_ibp, certified_crown-ibp, certified_crown.
CERTIFIED_PREFIX = "certified_"
# Rows drawn in the bracket panel of the curves rather than as attack panels.
BRACKET_ATTACKS = (STRONGEST, "apgd_ce", "apgd_t_dlr", "exact_linf")


def accuracy_with_interval(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float | int]:
    """Accuracy (with its Wilson interval) and macro-F1 over the cell types present in ``labels``:
    the metric columns of every sweep row, attacked or exact (``scrobin.robustness.linear_exact``)."""
    from scipy.stats import binomtest

    correct = int(np.sum(predicted == labels))
    interval = binomtest(correct, len(labels)).proportion_ci(CONFIDENCE, method="wilson") if len(labels) else None
    return {
        "accuracy_ci_low": float(interval.low) if interval else float("nan"),
        "accuracy_ci_high": float(interval.high) if interval else float("nan"),
        **accuracy_macro_f1(labels, predicted),
    }


def radius_summary(radii: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Median, quartiles and share at zero of the certified radius per group (e.g. regime and cell
    type): the fragile types have the smallest radii."""
    grouped = radii.groupby(list(by), sort=False)["radius"]
    return pd.DataFrame({
        "n_cells": grouped.size(), "radius_median": grouped.median(), "radius_q25": grouped.quantile(0.25),
        "radius_q75": grouped.quantile(0.75), "share_not_certified": grouped.apply(lambda r: float((r == 0).mean())),
    }).reset_index()
