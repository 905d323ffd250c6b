"""A logistic-regression baseline (the CellTypist kind of classifier), fitted and stored.

Linear models are the usual alternative to an MLP for cell typing: every network is checked
against one fitted on the same split (``scrobin.model.check``), and the robustness stage attacks
it with the same FGSM/PGD settings (``scrobin.robustness.sweep``) to show whether the network's
fragility is specific to it. It is stored as plain arrays in an ``.npz`` file rather than a
pickle, because scrobin never unpickles files it did not create in the same process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
from sklearn.linear_model import LogisticRegression

from scrobin.cells import class_names, dense, label_codes, proportional_subset, split_rows
from scrobin.errors import ScrobinError
from scrobin.metrics import classification_metrics
from scrobin.data.model_input import model_input, split_cells

# CellTypist's defaults for its lbfgs fit; lbfgs fits the multinomial (softmax) model for > 2 classes.
DEFAULT_LOGISTIC_PARAMS = {"C": 1.0, "max_iter": 1000, "solver": "lbfgs", "tol": 1e-4}


def fit_logistic_baseline(x: np.ndarray, y: np.ndarray, seed: int = 0, **params: Any) -> LogisticRegression:
    """Fit a multinomial logistic regression on the same cells (and split) as the network.

    Parameters
    ----------
    x
        Training cells x genes, the exact model input the network sees.
    y
        Class index (0..K-1) per cell, the same encoding as the network's, so predictions compare.
    seed
        ``random_state`` of the solver.
    **params
        Overrides of :data:`DEFAULT_LOGISTIC_PARAMS` (any ``LogisticRegression`` argument).
    """
    labels = np.asarray(y)
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ScrobinError("baseline labels must be integer class indices 0..K-1: encode cell types first")
    settings = {**DEFAULT_LOGISTIC_PARAMS, **params}
    try:
        classifier = LogisticRegression(random_state=seed, **settings)
    except TypeError as error:
        message = f"logistic baseline params are invalid ({error}): use LogisticRegression arguments"
        raise ScrobinError(message) from None
    return classifier.fit(dense(x), labels)


def predict_logistic_baseline(classifier: LogisticRegression, x, batch_size: int = 4096) -> np.ndarray:
    """Predicted class index of every row of ``x`` (cells x genes), densified one batch at a time.

    ``x`` is any matrix indexable by row slices: an array, a sparse matrix or a
    :class:`scrobin.data.model_input.ModelInput`, whose batches come scaled.
    """
    batches = [classifier.predict(dense(x[start:start + batch_size])) for start in range(0, x.shape[0], batch_size)]
    return np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)


def save_logistic_baseline(classifier: LogisticRegression, path: str | Path) -> None:
    """Write the fitted coefficients, intercepts, classes and settings to an ``.npz`` file."""
    params = {k: v for k, v in classifier.get_params().items() if k != "random_state"}
    if json.loads(json.dumps(params)) != params:
        raise ScrobinError("logistic baseline params do not survive JSON: use plain numbers and strings")
    np.savez(
        path,
        coef=classifier.coef_,
        intercept=classifier.intercept_,
        classes=classifier.classes_,
        params=np.array(json.dumps(params)),
    )


def load_logistic_baseline(path: str | Path) -> LogisticRegression:
    """Rebuild a fitted ``LogisticRegression`` from :func:`save_logistic_baseline`'s file, without pickle."""
    with np.load(path, allow_pickle=False) as stored:
        classifier = LogisticRegression(**json.loads(str(stored["params"])))
        classifier.coef_ = stored["coef"]
        classifier.intercept_ = stored["intercept"]
        classifier.classes_ = stored["classes"]
    classifier.n_features_in_ = classifier.coef_.shape[1]
    return classifier


def logistic_baseline_metrics(prepared: ad.AnnData, seed: int, train_cells: int | None = None) -> tuple[object, dict]:
    """A logistic regression fitted on the training cells and its test metrics, like the network's.

    Parameters
    ----------
    prepared
        The prepared dataset (its split and model input).
    seed
        Seed of the subsample and of the solver.
    train_cells
        At most this many training cells are fitted: a seeded subsample keeping each type's share
        (:func:`scrobin.cells.proportional_subset`), so the fit stays bounded on atlases, where the
        whole split densified would take ~10 GB at a million cells. None fits every training cell.

    Returns
    -------
    classifier, metrics
        The fitted ``LogisticRegression`` (:func:`scrobin.model.logistic.fit_logistic_baseline`) and
        :func:`scrobin.metrics.classification_metrics` of its test predictions (made batch by batch),
        with ``n_train_cells``: the number of cells fitted.
    """
    train = split_rows(prepared, "train")
    labels = label_codes(prepared)
    fitted = train[proportional_subset(labels[train], train_cells, seed)]
    classifier = fit_logistic_baseline(model_input(prepared, fitted), labels[fitted], seed=seed)
    x_test, y_test = split_cells(prepared, "test")
    metrics = classification_metrics(y_test, predict_logistic_baseline(classifier, x_test), class_names(prepared))
    return classifier, {**metrics, "n_train_cells": len(fitted)}
