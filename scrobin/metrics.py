"""Classification metrics on the test split, the check that a model is worth explaining, and figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score  # noqa: E402

from scrobin.errors import ScrobinError  # noqa: E402

# Column of every table made from one model (importance, consensus, comparison): why the model is
# not worth explaining, empty when it is.
MODEL_FLAG_COLUMN = "model_flag"


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict:
    """Accuracy, macro-F1 and per-class F1 (keyed by class name)."""
    labels = np.arange(len(classes))
    per_class = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "n_cells": int(len(y_true)),
        "per_class_f1": {str(c): float(f) for c, f in zip(classes, per_class)},
    }


def check_model(
    metrics: Mapping, predicted: np.ndarray, y_true: np.ndarray, classes: list[str], logistic_metrics: Mapping,
    settings: Mapping,
) -> dict:
    """Whether a trained model is worth explaining, and why not.

    A model is flagged when its test macro-F1 is more than ``max_macro_f1_below_logistic`` below
    the logistic baseline's on the same split, or when one type takes more than
    ``max_predicted_share`` of its test predictions while truly holding less: explanations of
    such a model explain its mistakes.

    Parameters
    ----------
    metrics
        The model's :func:`scrobin.metrics.classification_metrics` on the test cells.
    predicted, y_true
        Predicted and annotated class index of every test cell.
    classes
        Class names, indexed by the class codes.
    logistic_metrics
        The logistic baseline's test metrics (``macro_f1``).
    settings
        The ``model_check`` config section.

    Returns
    -------
    dict
        ``flagged`` (bool), ``reasons`` (one sentence each), ``predicted_share`` and
        ``most_predicted`` (the most often predicted type), ``macro_f1_below_logistic``.
    """
    counts = np.bincount(predicted, minlength=len(classes))
    most_predicted = int(counts.argmax()) if counts.sum() else 0
    share = float(counts[most_predicted] / max(counts.sum(), 1))
    true_share = float(np.mean(y_true == most_predicted)) if len(y_true) else 0.0
    gap = float(logistic_metrics["macro_f1"] - metrics["macro_f1"])
    reasons = []
    if gap > settings["max_macro_f1_below_logistic"]:
        reasons.append(
            f"test macro-F1 {metrics['macro_f1']:.3f} is {gap:.3f} below the logistic baseline's "
            f"{logistic_metrics['macro_f1']:.3f} (allowed {settings['max_macro_f1_below_logistic']:g})"
        )
    if share > settings["max_predicted_share"] and share > true_share:
        reasons.append(
            f"near-constant: {share:.0%} of test cells are called {classes[most_predicted]} "
            f"(truly {true_share:.0%})"
        )
    return {"flagged": bool(reasons), "reasons": reasons, "predicted_share": share,
            "most_predicted": classes[most_predicted], "macro_f1_below_logistic": gap}


def flag_label(model_check: Mapping | None) -> str:
    """One cell of a table: the reasons a model is flagged, '' when it is not (or was not checked)."""
    return "; ".join((model_check or {}).get("reasons", []))


def explainable_model_flag(metadata: Mapping, on_flag: str) -> str:
    """The flag an explanation of this model carries ('' when none), or a stop when configured.

    Parameters
    ----------
    metadata
        The model file's metadata (``load_model``), whose ``metrics`` hold ``model_check``.
    on_flag
        ``warn``: return the flag so every table made from the model shows it; ``stop``: refuse.

    Raises
    ------
    ScrobinError
        With ``on_flag="stop"`` when the model is flagged, naming dataset, regime and reason.
    """
    flag = flag_label(metadata.get("metrics", {}).get("model_check"))
    if flag and on_flag == "stop":
        raise ScrobinError(
            f"dataset {metadata.get('dataset')}: the {metadata.get('regime')} model is not explained because {flag}; "
            f"improve the model (model.preset, train settings) or set model_check.on_flag: warn to explain it flagged"
        )
    return flag


def per_class_table(metrics: dict, y_true: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """Per-class F1 and support as a TSV-ready table."""
    support = np.bincount(y_true, minlength=len(classes))
    return pd.DataFrame(
        {"cell_type": list(classes), "f1": [metrics["per_class_f1"][str(c)] for c in classes], "n_test_cells": support}
    )


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str], path, title: str) -> None:
    """Row-normalised confusion matrix (recall per true type), counts written in the cells."""
    counts = confusion_matrix(y_true, y_pred, labels=np.arange(len(classes)))
    fractions = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.5 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    for i, j in np.ndindex(counts.shape):
        ax.text(j, i, counts[i, j], ha="center", va="center", fontsize=7, color="white" if fractions[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="fraction of true type")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_training_curves(history: pd.DataFrame, path, title: str, best_epoch: int | None = None) -> None:
    """Loss and accuracy per epoch for training and (when present) validation cells."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, quantity in zip(axes, ("loss", "accuracy")):
        for split in ("train", "validation"):
            column = f"{split}_{quantity}"
            if column in history:
                ax.plot(history["epoch"], history[column], label=split)
        if best_epoch:
            ax.axvline(best_epoch, color="grey", linestyle=":", label="kept weights")
        ax.set_xlabel("epoch")
        ax.set_ylabel(quantity)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
