"""Build ``prepared.h5ad``: checked cells, ``X``, labels, split and transform.

This is the rule ``prepare``'s logic. Checks run first, so bad data stops before anything is
written; the output follows the contract in the README (``X`` float32: sparse log-normalised
model genes whose recorded scaling ``scrobin.data.model_input.model_input`` applies per batch, or
the model input itself when nothing is scaled; ``obs["cell_type"]``, ``obs["split"]``,
``uns["scrobin"]``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from scrobin.contract import GROUND_TRUTH_KEY, LABEL_KEY, LOGNORM_LAYER, SCROBIN_KEY, SPLIT_KEY, X_SCALED_KEY
from scrobin.data.checks import (
    check_cells,
    check_counts_are_counts,
    check_gene_selection,
    check_held_out_types,
    check_type_sizes,
    held_out_cells,
    input_matrix,
    input_state_of,
    missing_label_mask,
    split_sizes,
)
from scrobin.data.chunked_io import in_memory, matrix_values
from scrobin.data.datasets import prepare_settings
from scrobin.errors import ScrobinError
from scrobin.data.preprocess import SYMBOLS_OF, cells_passing_qc, prepare_matrix
from scrobin.tables import GENE_SYMBOL_COLUMN

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


def stratified_split(labels: pd.Series, test_fraction: float, validation_fraction: float, seed: int,
                     held_out: np.ndarray | None = None) -> np.ndarray:
    """Assign each cell to train / validation / test, per cell type, reproducibly from ``seed``.

    Every type gets at least one cell in each requested split, so per-type metrics and
    attributions never meet an empty type.

    Parameters
    ----------
    labels
        Cell type of each cell (length cells).
    test_fraction, validation_fraction
        Shares of each type's cells in test and validation (rounded, at least one each).
    seed
        Seeds the draw.
    held_out
        Boolean mask (one per cell) of the cells tested under a shift (``split_by``,
        :func:`scrobin.data.checks.held_out_cells`): they are the test split, ``test_fraction``
        is not used, and validation takes ``validation_fraction`` of each type's other cells.

    Returns
    -------
    numpy.ndarray
        ``"train"``, ``"validation"`` or ``"test"`` per cell (object dtype).
    """
    rng = np.random.default_rng(seed)
    split = np.full(len(labels), "train", dtype=object)
    codes = pd.Categorical(labels).codes
    if held_out is not None:
        split[held_out] = "test"
        codes, test_fraction = np.where(held_out, -1, codes), 0.0
    for code in np.unique(codes[codes >= 0]):
        members = rng.permutation(np.flatnonzero(codes == code))
        n_test, n_val = split_sizes(len(members), test_fraction, validation_fraction)
        split[members[:n_test]] = "test"
        split[members[n_test:n_test + n_val]] = "validation"
    return split


@dataclass
class CheckedCells:
    """A dataset's cells after the checks, quality control and rare-type handling (``checked_cells``)."""

    adata: ad.AnnData
    labels: pd.Series
    state: str
    detected: bool
    qc: dict
    dropped_types: list[str]
    rows: np.ndarray | None = None
    """Positions of the kept cells in ``backed_matrix`` (``adata`` is then a view whose matrix
    is never loaded); None when ``adata`` holds the kept cells in memory."""
    backed_matrix: object = None
    """The backed source matrix (X or the layer), read in blocks; None in memory."""
    held_out: np.ndarray | None = None
    """Boolean mask of the kept cells that ``split_by`` tests on; None for the stratified split."""


def checked_cells(adata: ad.AnnData, name: str, spec: Mapping, params: Mapping) -> CheckedCells:
    """Check a dataset and keep the cells the model may see, raising ``ScrobinError`` on bad input.

    Runs the checks of ``scrobin.data.checks``, drops the cells without a label when the spec says
    ``missing_labels: drop`` (``keep`` trains them as a type named as spelled, NaN as ``'nan'``),
    settles the input state (a declared ``layer`` is raw counts unless ``input_state`` says
    otherwise, and is refused when its values are log-normalised), drops cells failing quality control
    (``cells_passing_qc``: empty cells at the defaults) and the types too small to split when
    ``prepare.drop_rare_types`` is set; ``params`` are the dataset's own (``prepare_settings``).
    ``scrobin.preflight.check_sources`` runs exactly this before any job, so
    a dataset that QC empties, or whose types QC makes too small, is refused before the DAG runs.
    A backed ``adata`` (``load_dataset(backed=True)``) is checked block by block and subset as a
    view (``CheckedCells.rows``), so its matrix is never loaded whole.
    """
    label_key, layer, input_state = spec["label_key"], spec.get("layer"), spec.get("input_state", "auto")
    missing_labels = spec.get("missing_labels", "refuse")
    check_cells(adata, name, label_key, layer, input_state, spec.get("gene_symbols"), missing_labels)
    matrix = input_matrix(adata, layer)
    rows = None if in_memory(matrix) else np.arange(adata.n_obs)
    unlabelled = missing_label_mask(adata.obs[label_key]) if missing_labels == "drop" else np.zeros(adata.n_obs, bool)
    if unlabelled.any():
        log.info("dataset %s: %d of %d cells have no label and are left out (missing_labels: drop)", name,
                 int(unlabelled.sum()), adata.n_obs)
    state, detected = input_state_of(matrix, name, layer, input_state)
    if state == "counts" and not detected:
        check_counts_are_counts(matrix, name, layer)
    try:
        keep = cells_passing_qc(matrix, state, params)
    except ScrobinError as error:
        raise ScrobinError(f"dataset '{name}': {error}") from None
    qc = {"min_cell_counts": params["min_cell_counts"], "min_cell_genes": params["min_cell_genes"],
          "dropped_cells": int((~keep & ~unlabelled).sum()), "dropped_unlabelled_cells": int(unlabelled.sum())}
    if not (keep & ~unlabelled).any():
        raise ScrobinError(
            f"dataset '{name}': no cell passes quality control (prepare.min_cell_counts {params['min_cell_counts']}, "
            f"prepare.min_cell_genes {params['min_cell_genes']}): lower them or check that the input holds expression"
        )
    if qc["dropped_cells"]:
        log.info("dataset %s: quality control drops %d of %d cells (%s)", name, qc["dropped_cells"], len(keep),
                 "fewer than min_cell_counts counts or min_cell_genes genes after gene filtering")
    if qc["dropped_cells"] or unlabelled.any():
        adata, rows = _subset(adata, keep & ~unlabelled, rows)
    labels = adata.obs[label_key].astype(str)
    min_cells = params["min_cells_per_type"]
    held_out = held_out_cells(adata.obs, name, spec["split_by"]) if spec.get("split_by") else None
    if held_out is None:
        rare = check_type_sizes(
            labels, name, min_cells, params["test_fraction"], params["validation_fraction"], params["drop_rare_types"]
        )
    else:
        rare = check_held_out_types(labels, held_out, name, min_cells, params["validation_fraction"],
                                    params["drop_rare_types"])
    if rare:
        log.warning("dataset %s: dropping cell types with fewer than %d %s: %s", name, min_cells,
                    "cells" if held_out is None else "training cells (none for a type only the test cells hold)",
                    ", ".join(rare))
        keep = ~labels.isin(rare).to_numpy()
        (adata, rows), labels = _subset(adata, keep, rows), labels[keep]
        held_out = None if held_out is None else held_out[keep]
    if held_out is not None and not held_out.any():
        raise ScrobinError(f"dataset '{name}': no split_by test cell is left once the types absent from training "
                           f"are dropped: change datasets.{name}.split_by.test")
    return CheckedCells(adata, labels, state, detected, qc, rare, rows, None if rows is None else matrix, held_out)


def _subset(adata: ad.AnnData, keep: np.ndarray, rows: np.ndarray | None) -> tuple[ad.AnnData, np.ndarray | None]:
    """The kept cells: an in-memory copy, or for a backed dataset a view and the kept positions."""
    if rows is None:
        return adata[keep].copy(), None
    return adata[keep], rows[keep]


def prepare_dataset(adata: ad.AnnData, name: str, spec: Mapping, params: Mapping, seed: int) -> ad.AnnData:
    """Check, split and preprocess one dataset into the model-ready AnnData.

    Parameters
    ----------
    adata
        Cells as loaded from the dataset's source.
    name
        Dataset name (used in messages and recorded).
    spec
        The validated dataset spec (``label_key``, ``layer``, ``input_state``, ``organism``...).
    params
        The validated ``prepare`` section of the config.
    seed
        Seed of the split.
    """
    params = prepare_settings(spec, params)
    return prepare_cells(checked_cells(adata, name, spec, params), name, spec, params, seed)


def prepare_cells(cells: CheckedCells, name: str, spec: Mapping, params: Mapping, seed: int) -> ad.AnnData:
    """Split and preprocess checked cells (``checked_cells``) into the model-ready AnnData.

    The second half of :func:`prepare_dataset`, which ``scrobin.preflight.check_sources`` also runs
    before any job to learn the model's genes (their number, the markers among them, whether
    log-normalised values exist) from this very code. ``params`` are the dataset's own
    (``prepare_settings``); ``keep_genes`` may be named through ``gene_symbols``.
    """
    label_key, layer = spec["label_key"], spec.get("layer")
    adata, labels, state, rare = cells.adata, cells.labels, cells.state, cells.dropped_types
    detected = state if cells.detected else None
    matrix = input_matrix(adata, layer) if cells.rows is None else cells.backed_matrix
    if layer is not None and state == "counts" and not _all_integer(matrix):
        log.info("dataset %s: layer '%s' holds non-integer values (e.g. ambient-corrected counts): treated as "
                 "counts as declared; set input_state if it holds log-normalised values", name, layer)
    if detected:
        origin = "detected"
    elif spec.get("input_state", "auto") != "auto":
        origin = "input_state in the config"
    else:
        origin = f"layer '{layer}': counts unless input_state says otherwise"
    log.info("dataset %s: input holds %s values (%s)", name, state, origin)
    params = {**params, "keep_genes": check_gene_selection(adata.var, name, state, params, spec.get("gene_symbols"))}
    input_hvg = adata.var["highly_variable"].to_numpy(dtype=bool) if params["use_input_hvg"] else None
    split = stratified_split(labels, params["test_fraction"], params["validation_fraction"], seed, cells.held_out)
    x, lognorm, transform = prepare_matrix(
        matrix, adata.var_names, state, np.flatnonzero(split == "train"), params, input_hvg, cells.rows
    )
    transform.update({k: v for k, v in (("layer", layer), ("detected_input_state", detected)) if v is not None})
    if spec.get("gene_symbols"):
        # A query named by symbols is aligned through these (scrobin.data.query), the counted genes
        # included, since they make up the library size.
        for key in ("genes", "counted_genes"):
            if key in transform:
                symbols = gene_symbols(adata.var.loc[transform[key]], spec["gene_symbols"])
                transform[SYMBOLS_OF[key]] = [str(symbol) for symbol in symbols]

    genes = pd.Index(transform["genes"])
    var = adata.var.loc[genes].copy()
    obs = adata.obs.drop(columns=[c for c in (LABEL_KEY, SPLIT_KEY) if c in adata.obs], errors="ignore").copy()
    obs[LABEL_KEY] = pd.Categorical(labels.to_numpy())
    obs[SPLIT_KEY] = pd.Categorical(split, categories=list(SPLITS))
    if spec.get("gene_symbols"):
        # Tables, figures and enrichment show these; the model and its transform keep var_names.
        var[GENE_SYMBOL_COLUMN] = gene_symbols(var, spec["gene_symbols"])
    prepared = ad.AnnData(X=x, obs=obs, var=var)
    # With a scale step X holds the log-normalised values (sparse) and the model input is scaled
    # per batch (scrobin.data.model_input.model_input), so no lognorm layer duplicates X.
    x_scaled = "scale" not in transform["steps"]
    if lognorm is not None and x_scaled:
        prepared.layers[LOGNORM_LAYER] = sp.csr_matrix(lognorm, dtype=np.float32)
    elif state == "scaled" and adata.raw is not None and genes.isin(adata.raw.var_names).all():
        # Scaled inputs such as pbmc68k_reduced keep log-normalised values in .raw: DE needs them.
        prepared.layers[LOGNORM_LAYER] = sp.csr_matrix(adata.raw[:, genes].X, dtype=np.float32)
    prepared.uns[SCROBIN_KEY] = {
        "dataset": name,
        "source": spec["source"],
        "label_key": LABEL_KEY,
        "source_label_key": label_key,
        "organism": spec.get("organism", "hsapiens"),
        "seed": seed,
        "dropped_types": rare,
        "quality_control": cells.qc,
        "split_fractions": split_fractions(split, params, cells.held_out is not None),
        "transform": transform,
        X_SCALED_KEY: x_scaled,
    }
    if cells.held_out is not None:
        prepared.uns[SCROBIN_KEY]["split_by"] = {
            "key": spec["split_by"]["key"], "test": [str(value) for value in spec["split_by"]["test"]],
            "n_test_cells": int(cells.held_out.sum()),
        }
    if GROUND_TRUTH_KEY in adata.uns:
        prepared.uns[GROUND_TRUTH_KEY] = restrict_truth(adata.uns[GROUND_TRUTH_KEY], genes)
    return prepared


def split_fractions(split: np.ndarray, params: Mapping, shifted: bool) -> dict:
    """The test and validation fractions to record: the configured ones for the stratified split,
    the realised shares of all cells under ``split_by``, where the held-out values set the test."""
    if not shifted:
        return {"test": params["test_fraction"], "validation": params["validation_fraction"]}
    return {part: round(float(np.mean(split == part)), 6) for part in ("test", "validation")}


def restrict_truth(truth: Mapping, genes: pd.Index) -> dict:
    """Keep only key genes the model can see; record how many the gene selection removed.

    Chance baselines of key-gene recovery must count only genes that could be ranked.
    """
    restricted: dict = {}
    for field in ("key_genes", "direct_targets"):
        if field in truth:
            restricted[field] = {t: [g for g in gs if g in genes] for t, gs in truth[field].items()}
            restricted[f"{field}_not_selected"] = {
                t: int(sum(g not in genes for g in gs)) for t, gs in truth[field].items()
            }
    return restricted


def _all_integer(matrix) -> bool:
    values = matrix_values(matrix)
    return bool(np.all(values == np.round(values)))


def gene_symbols(var: pd.DataFrame, column: str) -> np.ndarray:
    """The symbols in ``var[column]`` as text; a gene without one keeps its ``var_names`` entry."""
    symbols = var[column].astype(object)
    missing = symbols.isna() | (symbols.astype(str).str.strip() == "")
    return np.where(missing, var.index.astype(str), symbols.astype(str)).astype(object)
