"""Classification metrics: the one accuracy / macro-F1 function every stage reports."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score


def accuracy_macro_f1(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray | None = None) -> dict:
    """Accuracy, macro-F1 and the number of cells of integer class predictions.

    Parameters
    ----------
    y_true, y_pred
        Class index per cell (length cells).
    labels
        The classes macro-F1 averages over; the classes present in ``y_true`` when None (a class
        absent from the cells then does not count as F1 0).
    """
    labels = np.unique(y_true) if labels is None else labels
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "n_cells": int(len(y_true)),
    }


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict:
    """:func:`accuracy_macro_f1` over every class, plus per-class F1 (keyed by class name)."""
    labels = np.arange(len(classes))
    per_class = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        **accuracy_macro_f1(y_true, y_pred, labels),
        "per_class_f1": {str(c): float(f) for c, f in zip(classes, per_class)},
    }


def per_class_table(metrics: dict, y_true: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """Per-class F1 and support as a TSV-ready table."""
    support = np.bincount(y_true, minlength=len(classes))
    return pd.DataFrame(
        {"cell_type": list(classes), "f1": [metrics["per_class_f1"][str(c)] for c in classes], "n_test_cells": support}
    )
