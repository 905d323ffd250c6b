"""Is a trained model worth explaining? The check, and the flag every table made from it carries.

Apart from ``scrobin.metrics`` (which computes metrics with scikit-learn and draws figures) so
that the attribution, consensus and comparison jobs can carry the flag without importing either.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scrobin.errors import ScrobinError

# Column of every table made from one model (importance, consensus, comparison): why the model is
# not worth explaining, empty when it is.
MODEL_FLAG_COLUMN = "model_flag"



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
