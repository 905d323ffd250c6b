"""Per-cell-type gene importance from a cells x genes attribution matrix.

A gene's importance for a cell type is its attribution averaged over *that type's* cells. The
published code averaged |attribution| over all test cells, which mixes every type's explanation
into each ranking; here one indicator-matrix product gives every type's own mean at once.

Three ranking rules, chosen with ``rank_by``:

``positive``
    Signed mean, largest first: genes whose presence pushes the model *towards* the type, the
    reading that matches marker genes and the paper's key-gene question. Default.
``absolute``
    Mean of |attribution|: genes that matter to individual cells in either direction, even when
    the directions cancel across cells.
``signed_abs``
    |signed mean|: genes with a consistent net effect of either sign (evidence for *or* against).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scrobin.errors import ScrobinError

RANK_RULES = ("positive", "absolute", "signed_abs")
IMPORTANCE_COLUMNS = ("cell_type", "gene", "mean_signed", "mean_abs", "score", "rank", "n_cells")
RANK_COLUMNS = ("rank", "consensus_rank")


def ranking_score(signed: np.ndarray, absolute: np.ndarray, rank_by: str) -> np.ndarray:
    """Score to sort by (larger = more important) under a ranking rule.

    Shared by the per-type importance and the per-cell orderings of the faithfulness curves so a
    rule means the same thing everywhere.
    """
    if rank_by == "positive":
        return signed
    if rank_by == "absolute":
        return absolute
    if rank_by == "signed_abs":
        return np.abs(signed)
    raise ScrobinError(f"rank_by '{rank_by}' is unknown: use one of {', '.join(RANK_RULES)}")


def cell_type_importance(attributions, cell_types: Sequence, genes: Sequence,
                         rank_by: str = "positive") -> pd.DataFrame:
    """Mean signed and absolute attribution of every gene over each cell type's own cells.

    Parameters
    ----------
    attributions
        Cells x genes array (numpy or anything ``np.asarray`` accepts). float32 input stays
        float32 in the product, so atlas-sized matrices are not doubled in memory.
    cell_types
        Cell type of each cell, e.g. ``adata.obs["cell_type"]``. A categorical keeps its category
        order (unused categories are dropped); otherwise types are sorted.
    genes
        Gene name of each column.
    rank_by
        ``positive`` (default), ``absolute`` or ``signed_abs``; see the module docstring.

    Returns
    -------
    pandas.DataFrame
        Long table, one row per cell type and gene, sorted by cell type then rank, with columns
        ``cell_type, gene, mean_signed, mean_abs, score, rank, n_cells``; ``rank`` is 1 for the most
        important gene of the type and ``n_cells`` the number of cells averaged.
    """
    values = np.asarray(attributions)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    if values.ndim != 2:
        raise ScrobinError(f"attributions must be a cells x genes matrix, got shape {values.shape}")
    genes = np.asarray(genes, dtype=object)
    if genes.shape != (values.shape[1],):
        raise ScrobinError(f"{len(genes)} gene names were given for {values.shape[1]} attribution "
                           f"columns: pass one name per column")
    if len(set(genes)) != len(genes):
        raise ScrobinError("gene names are not unique: make var_names unique before ranking")
    labels = pd.Categorical(cell_types)
    if len(labels) != values.shape[0]:
        raise ScrobinError(f"{len(labels)} cell types were given for {values.shape[0]} attribution "
                           f"rows: pass one cell type per cell")
    if labels.isna().any():
        raise ScrobinError("some cells have no cell type: drop them or fill obs['cell_type']")
    if not np.isfinite(values).all():
        raise ScrobinError("attributions contain NaN or infinite values: recompute them or drop "
                           "those cells")
    labels = labels.remove_unused_categories()
    type_names = list(labels.categories)
    if not type_names:
        raise ScrobinError("attributions have no cells: pass at least one cell")

    # Row t of `membership` averages the cells of type t, so one product gives all types' means.
    membership = np.zeros((len(type_names), values.shape[0]))
    membership[labels.codes, np.arange(values.shape[0])] = 1.0
    cells_per_type = membership.sum(axis=1)
    membership /= cells_per_type[:, None]
    membership = membership.astype(values.dtype)
    mean_signed = (membership @ values).astype(np.float64)
    mean_abs = (membership @ np.abs(values)).astype(np.float64)
    scores = ranking_score(mean_signed, mean_abs, rank_by)
    # Rows come out sorted by type then importance; a stable sort keeps gene order among ties so
    # ranks are reproducible.
    order = np.argsort(-scores, axis=1, kind="stable")

    n_genes = len(genes)
    return pd.DataFrame({
        "cell_type": np.repeat(np.asarray(type_names, dtype=object), n_genes),
        "gene": genes[order].ravel(),
        "mean_signed": np.take_along_axis(mean_signed, order, axis=1).ravel(),
        "mean_abs": np.take_along_axis(mean_abs, order, axis=1).ravel(),
        "score": np.take_along_axis(scores, order, axis=1).ravel(),
        "rank": np.tile(np.arange(1, n_genes + 1), len(type_names)),
        "n_cells": np.repeat(cells_per_type.astype(int), n_genes),
    })


def importance_from_anndata(adata, cell_type_key: str = "cell_type", rank_by: str = "positive",
                            layer: str | None = None) -> pd.DataFrame:
    """``cell_type_importance`` on an attribution AnnData (cells x genes, types in ``obs``).

    Parameters
    ----------
    adata
        Attribution AnnData as written by the ``attribute`` stage.
    cell_type_key
        ``obs`` column holding each cell's type.
    rank_by
        Ranking rule, see ``cell_type_importance``.
    layer
        Layer holding the attributions; ``None`` uses ``X``.
    """
    if cell_type_key not in adata.obs:
        raise ScrobinError(f"obs has no column '{cell_type_key}': set cell_type_key to one of "
                           f"{', '.join(map(str, adata.obs.columns))}")
    if layer is not None and layer not in adata.layers:
        raise ScrobinError(f"layer '{layer}' is missing: use one of "
                           f"{', '.join(adata.layers) or 'X'}")
    matrix = adata.X if layer is None else adata.layers[layer]
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    return cell_type_importance(matrix, adata.obs[cell_type_key], adata.var_names, rank_by)


def importance_matrix(importance: pd.DataFrame, value: str = "score") -> pd.DataFrame:
    """Wide genes x cell types view of one column of a long importance table.

    Cell types keep their table order; genes come in the order the table first lists them (the
    first type's ranking), so the most important genes of that type lead.
    """
    missing = {"cell_type", "gene", value} - set(importance.columns)
    if missing:
        raise ScrobinError(f"importance table lacks column(s) {', '.join(sorted(missing))}: pass "
                           f"the output of cell_type_importance or consensus_ranking")
    wide = importance.pivot(index="gene", columns="cell_type", values=value)
    return wide.loc[importance["gene"].unique(), importance["cell_type"].unique()]


def _rank_column(table: pd.DataFrame) -> str:
    """Rank column of an importance table (``rank``) or a consensus table (``consensus_rank``)."""
    for column in RANK_COLUMNS:
        if column in table.columns:
            return column
    raise ScrobinError(f"ranking table needs one of the columns {', '.join(RANK_COLUMNS)}: pass "
                       f"the output of cell_type_importance or consensus_ranking")


def ranked_genes(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each cell type's genes, most important first, from an importance or consensus table.

    The common currency of every evaluation: whatever produced a ranking, an evaluation reads only
    the order of genes per type.
    """
    column = _rank_column(table)
    if not {"cell_type", "gene"} <= set(table.columns):
        raise ScrobinError("ranking table needs 'cell_type' and 'gene' columns: pass the output of "
                           "cell_type_importance or consensus_ranking")
    ordered = table.sort_values(column, kind="stable")
    return {cell_type: group["gene"].to_numpy(dtype=object)
            for cell_type, group in ordered.groupby("cell_type", sort=False, observed=True)}
