"""Labelling query cells with trained scrobin models, written back as CellTypist's ``to_adata()`` does.

Each model (one regime and replicate, :func:`scrobin.model.store.load_model`) labels every query
cell: the query is aligned with the model's genes and its recorded transform replayed
(:mod:`scrobin.data.query`), one block of cells at a time, and the softmax of the logits gives
the predicted type, its probability and an unassigned call below a threshold. CellTypist's
``AnnotationResult.to_adata(prefix=...)`` adds ``predicted_labels`` and ``conf_score`` (the
probability of the predicted type) to the query's obs; scrobin adds, per model,
``scrobin_<model>_label`` (categorical, the model's classes), ``scrobin_<model>_probability``
and ``scrobin_<model>_unassigned`` (bool; CellTypist's ``prob match`` mode writes ``Unassigned``
in place of the label instead, which hides the type the model leaned to), and records the models,
the replay and the missing genes in ``uns["scrobin_annotation"]``. The query's own obs, var, X and
layers are kept as they are.

When the query has labels, each model is scored on the cells whose label is a reference type
(accuracy and macro-F1 of the predicted type, unassigned or not); cells of other labels are
counted as "not in the reference", never scored wrong.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import torch
from scipy.special import softmax

from scrobin.contract import ANNOTATION_KEY
from scrobin.data.checks import Subject
from scrobin.data.query import (
    align_query,
    check_input_state,
    check_query,
    labels_not_in_reference,
    replay_blocks,
)
from scrobin.errors import ScrobinError
from scrobin.inference import predict_logits
from scrobin.metrics import accuracy_macro_f1
from scrobin.model.store import load_model

COLUMN_PREFIX = "scrobin_"
COLUMN_PARTS = ("label", "probability", "unassigned")


@dataclass
class AnnotationModel:
    """A trained model that labels query cells, under the name its obs columns carry."""

    name: str
    """Column stem: the regime, or ``<regime>_seed<seed>`` when several replicates of it label."""
    model: torch.nn.Module
    metadata: dict
    """The model file's metadata (:func:`scrobin.model.store.save_model`): classes, genes, transform."""
    path: str = ""


def label_columns(name: str) -> dict[str, str]:
    """The obs columns of model ``name``: ``{"label": "scrobin_<name>_label", "probability": ...,
    "unassigned": ...}``."""
    return {part: f"{COLUMN_PREFIX}{name}_{part}" for part in COLUMN_PARTS}


def load_annotation_models(paths: Sequence[str | Path], device: torch.device | str = "cpu") -> list[AnnotationModel]:
    """Load model files and name each by its regime, adding ``_seed<seed>`` where regimes repeat.

    Raises
    ------
    ScrobinError
        No path, a missing file, or two models of the same regime and seed (e.g. of two datasets).
    """
    if not paths:
        raise ScrobinError("no model to annotate with: give at least one model file")
    loaded = [(str(path), *load_model(path, device)) for path in paths]
    regimes = pd.Series([metadata["regime"] for _, _, metadata in loaded])
    models = []
    for path, model, metadata in loaded:
        repeated = int((regimes == metadata["regime"]).sum()) > 1
        name = f"{metadata['regime']}_seed{metadata['seed']}" if repeated else metadata["regime"]
        models.append(AnnotationModel(name, model, metadata, path))
    names = pd.Index([model.name for model in models])
    if names.has_duplicates:
        duplicated = names[names.duplicated()][0]
        raise ScrobinError(f"two models would both label as '{duplicated}' (same regime and seed): annotate with "
                           "the models of one dataset at a time")
    return models


@dataclass
class AnnotationResult:
    """What :func:`annotate_query` found: the new obs columns, the record and the scores."""

    obs: pd.DataFrame
    """Query cells x the columns of every model (:func:`label_columns`), indexed like the query."""
    record: dict
    """``uns["scrobin_annotation"]``: threshold, models, replays, scores."""
    scores: pd.DataFrame
    """One row per model (``dataset``, ``regime``, ``seed``, ``model``, ``accuracy``, ``macro_f1``,
    ``n_cells`` scored, ``n_unassigned`` among them, ``n_not_in_reference``); empty without labels."""

    def to_adata(self, query: ad.AnnData) -> ad.AnnData:
        """An in-memory copy of the query with the columns in obs and the record in uns."""
        labelled = query.to_memory() if query.isbacked else query.copy()
        for column in self.obs.columns:
            labelled.obs[column] = self.obs[column].values
        labelled.uns[ANNOTATION_KEY] = self.record
        return labelled

    def write(self, query: ad.AnnData, path: str | Path) -> None:
        """Write the labelled query to ``path`` (``.h5ad``).

        A query opened backed is copied file to file and only its obs and the record are
        rewritten, so its matrix is never loaded; one in memory is written whole.
        """
        if not query.isbacked:
            self.to_adata(query).write_h5ad(path)
            return
        import h5py
        from anndata.io import write_elem

        shutil.copyfile(query.filename, path)
        obs = query.obs.copy()
        for column in self.obs.columns:
            obs[column] = self.obs[column].values
        with h5py.File(path, "r+") as handle:
            del handle["obs"]
            write_elem(handle, "obs", obs)
            if ANNOTATION_KEY in handle["uns"]:
                del handle["uns"][ANNOTATION_KEY]
            write_elem(handle["uns"], ANNOTATION_KEY, self.record)


def annotate_query(
    query: ad.AnnData,
    models: Sequence[AnnotationModel],
    spec: Mapping,
    subject: Subject,
    threshold: float,
    min_shared_genes: float,
    batch_size: int = 4096,
) -> AnnotationResult:
    """Label every query cell with every model; score the models when the query has labels.

    Parameters
    ----------
    query
        The query cells x genes (in memory or backed), in the input state the models were
        trained from.
    models
        :func:`load_annotation_models`; each predicts on its own device.
    spec
        The query's settings (``scrobin.data.query.QUERY_KEYS``): ``layer``, ``input_state``,
        ``gene_symbols`` and, to score, ``label_key``.
    subject
        Names the query and its settings in messages (``scrobin.data.checks.query_subject``, or
        a command-line :class:`~scrobin.data.checks.Subject`).
    threshold
        Softmax probability (0-1) of the predicted type below which a cell is unassigned
        (``annotation.unassigned_threshold``).
    min_shared_genes
        Least share (0-1) of each model's genes the query must have (``annotation.min_shared_genes``).
    batch_size
        Cells per forward pass.

    Returns
    -------
    AnnotationResult
        Columns per model, the ``uns`` record and the scores (:func:`score_labels`).

    Raises
    ------
    ScrobinError
        Bad query cells or settings (:func:`scrobin.data.query.check_query`), a threshold outside
        0-1, another input state than a model's, or too few genes shared with a model.
    """
    if not 0 <= threshold <= 1:
        raise ScrobinError(f"the unassigned threshold must be a probability between 0 and 1, got {threshold}")
    if not models:
        raise ScrobinError("no model to annotate with: give at least one model file")
    state = check_query(query, spec, subject)
    columns, replays, model_records, scores = {}, {}, {}, []
    for replay_key, group in _by_transform(models).items():
        transform = group[0].metadata["transform"]
        check_input_state(state, transform, subject)
        alignment = align_query(query.var, transform, subject, spec.get("gene_symbols"), min_shared_genes)
        replays[replay_key] = {**alignment.record(), "input_state": transform["input_state"],
                               "steps": list(transform["steps"])}
        predicted = {model.name: (np.zeros(query.n_obs, np.int64), np.zeros(query.n_obs, np.float32)) for model in group}
        for positions, cells in replay_blocks(query, alignment, transform, spec.get("layer")):
            for model in group:
                probabilities = softmax(predict_logits(model.model, cells, batch_size).astype(np.float64), axis=1)
                best = probabilities.argmax(axis=1)
                predicted[model.name][0][positions] = best
                predicted[model.name][1][positions] = probabilities[np.arange(len(best)), best]
        for model in group:
            codes, probability = predicted[model.name]
            classes = list(map(str, model.metadata["classes"]))
            unassigned = probability < threshold
            names = label_columns(model.name)
            columns[names["label"]] = pd.Categorical.from_codes(codes, categories=classes)
            columns[names["probability"]] = probability
            columns[names["unassigned"]] = unassigned
            model_records[model.name] = {
                "regime": model.metadata["regime"], "seed": model.metadata["seed"],
                "dataset": model.metadata.get("dataset", ""), "path": model.path, "classes": classes,
                "columns": names, "replay": replay_key, "n_unassigned": int(unassigned.sum()),
            }
            if spec.get("label_key") is not None:
                score = score_labels(query.obs[spec["label_key"]], codes, unassigned, classes)
                model_records[model.name]["score"] = _uns_ready_score(score)
                scores.append({"dataset": model_records[model.name]["dataset"], "regime": model.metadata["regime"],
                               "seed": model.metadata["seed"], "model": model.name,
                               **{key: value for key, value in score.items() if key != "not_in_reference"}})
    record = {"threshold": float(threshold), "min_shared_genes": float(min_shared_genes), "models": model_records,
              "replays": replays, "label_key": spec.get("label_key") or ""}
    return AnnotationResult(pd.DataFrame(columns, index=query.obs_names), record, pd.DataFrame(scores))


def _by_transform(models: Sequence[AnnotationModel]) -> dict[str, list[AnnotationModel]]:
    """Models grouped by their recorded transform (``"0"``, ``"1"``, ...): the replicates and
    regimes of one dataset share one, so the query is aligned and replayed once for them all."""
    groups: dict[str, list[AnnotationModel]] = {}
    for model in models:
        groups.setdefault(json.dumps(model.metadata["transform"], sort_keys=True), []).append(model)
    return {str(index): group for index, group in enumerate(groups.values())}


def score_labels(labels: pd.Series, predicted: np.ndarray, unassigned: np.ndarray, classes: Sequence[str]) -> dict:
    """Accuracy and macro-F1 of predictions on the query cells whose label is a reference type.

    Parameters
    ----------
    labels
        The query's own cell types (length cells).
    predicted
        Index into ``classes`` of each cell's predicted type (unassigned cells included: the
        threshold marks doubt, it does not change the prediction scored).
    unassigned
        Boolean per cell: probability below the threshold.
    classes
        The model's classes, in order.

    Returns
    -------
    dict
        ``accuracy`` and ``macro_f1`` (over the reference types among the query's labels; NaN
        when no cell has one), ``n_cells`` scored, ``n_unassigned`` among them,
        ``n_not_in_reference`` and ``not_in_reference`` (label -> cells, most first).
    """
    truth = pd.Index(list(map(str, classes))).get_indexer(labels.astype(str))
    known = truth >= 0
    if known.any():
        metrics = accuracy_macro_f1(truth[known], np.asarray(predicted)[known])
    else:
        metrics = {"accuracy": float("nan"), "macro_f1": float("nan"), "n_cells": 0}
    unknown = labels_not_in_reference(labels, classes)
    return {**metrics, "n_unassigned": int(np.asarray(unassigned)[known].sum()),
            "n_not_in_reference": int(sum(unknown.values())), "not_in_reference": unknown}


def _uns_ready_score(score: Mapping) -> dict:
    """A score with its label counts as two lists: labels such as ``CD4+/CD25 T Reg`` hold ``/``,
    which an ``.h5ad`` would read as nested groups if they were keys."""
    ready = {key: value for key, value in score.items() if key != "not_in_reference"}
    ready["not_in_reference_labels"] = list(score["not_in_reference"])
    ready["not_in_reference_cells"] = list(score["not_in_reference"].values())
    return ready
