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

A positive attribution does not mean the gene is expressed in the type: with a mean (zeros, for
scaled input) baseline a gene *below* average in the type, weighted negatively by the model, gets
a positive attribution too: evidence by absence. Every table therefore carries the gene's
direction (mean log-normalised expression in the type vs all other cells and the log2 fold change,
as scanpy's ``rank_genes_groups`` defines it), and ``with_direction`` puts the genes of one
direction first (``up`` by default: evidence *for* the type by being expressed in it), keeping the
evidence-by-absence genes as their own ranked list (``absence_rank``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scrobin.contract import LABEL_KEY
from scrobin.errors import ScrobinError
from scrobin.validators import require_obs_and_layer

RANK_RULES = ("positive", "absolute", "signed_abs")
# Cells per block of gene_direction's sums (a float64 copy of one block is held at a time).
DIRECTION_BLOCK_CELLS = 100_000
IMPORTANCE_COLUMNS = ("cell_type", "gene", "mean_signed", "mean_abs", "score", "rank", "n_cells")
RANK_COLUMNS = ("rank", "consensus_rank")
# Which genes lead a ranking: expressed more in the type (up), less (down), or all by score (any).
DIRECTIONS = ("up", "down", "any")
DIRECTION_COLUMNS = ("mean_in_type", "mean_rest", "logfoldchange", "direction")
# Columns ``with_direction`` and ``flag_few_cells`` append to an importance table, in this order.
ADDED_COLUMNS = (*DIRECTION_COLUMNS, "absence_rank", "few_cells")
# Columns ``with_type_trust`` appends to an importance or consensus table.
TRUST_COLUMNS = ("type_f1", "n_test_cells", "not_recognised")


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


def _cell_type_labels(cell_types: Sequence, n_rows: int, rows: str) -> pd.Categorical:
    """Cell types as a categorical of used categories, one per row, none missing."""
    labels = pd.Categorical(cell_types)
    if len(labels) != n_rows:
        raise ScrobinError(f"{len(labels)} cell types were given for {n_rows} {rows}: pass one "
                           f"cell type per cell")
    if labels.isna().any():
        raise ScrobinError("some cells have no cell type: drop them or fill obs['cell_type']")
    return labels.remove_unused_categories()


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
    labels = _cell_type_labels(cell_types, values.shape[0], "attribution rows")
    if not np.isfinite(values).all():
        raise ScrobinError("attributions contain NaN or infinite values: recompute them or drop "
                           "those cells")
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


def importance_from_anndata(adata, cell_type_key: str = LABEL_KEY, rank_by: str = "positive",
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
    require_obs_and_layer(adata, cell_type_key, layer, "cell_type_key")
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


def gene_direction(expression, cell_types: Sequence, genes: Sequence,
                   log_normalised: bool = True) -> pd.DataFrame:
    """Mean expression of every gene in each cell type and in all other cells, and its direction.

    Parameters
    ----------
    expression
        Cells x genes, dense or sparse: log1p-normalised expression (``layers["lognorm"]`` of a
        prepared dataset), or any per-gene monotone transform of it such as the scaled model input
        (then pass ``log_normalised=False``: the means keep their order, fold changes lose meaning).
    cell_types
        Cell type of each cell; a categorical keeps its category order.
    genes
        Gene name of each column.
    log_normalised
        Whether ``expression`` holds log1p values, so a fold change can be computed.

    Returns
    -------
    pandas.DataFrame
        Long table ``cell_type, gene, mean_in_type, mean_rest, logfoldchange, direction``, one row
        per type and gene. ``logfoldchange`` is scanpy's ``rank_genes_groups`` definition,
        log2((expm1(mean_in_type) + 1e-9) / (expm1(mean_rest) + 1e-9)), NaN when not
        ``log_normalised``; ``direction`` is ``up`` (higher in the type), ``down`` (lower) or
        ``equal``.
    """
    labels = _cell_type_labels(cell_types, expression.shape[0], "cells")
    type_names = np.asarray(labels.categories, dtype=object)
    n_cells = expression.shape[0]
    membership = sp.csr_matrix((np.ones(n_cells), (labels.codes, np.arange(n_cells))),
                               shape=(len(type_names), n_cells))
    # A sparse product gives every type's sum; the rest is the column total minus it. The product
    # copies its rows as float64, so it runs on blocks of cells: on an atlas the copy of every cell
    # would double the matrix's memory.
    sums = np.zeros((len(type_names), expression.shape[1]))
    for start in range(0, n_cells, DIRECTION_BLOCK_CELLS):
        block = slice(start, start + DIRECTION_BLOCK_CELLS)
        part = membership[:, block] @ expression[block]
        sums += np.asarray(part.toarray() if sp.issparse(part) else part, dtype=np.float64)
    totals = np.asarray(expression.sum(axis=0), dtype=np.float64).reshape(1, -1)
    cells_in_type = np.asarray(membership.sum(axis=1)).reshape(-1, 1)
    cells_rest = n_cells - cells_in_type
    mean_in = sums / cells_in_type
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rest = np.where(cells_rest > 0, (totals - sums) / np.maximum(cells_rest, 1), np.nan)
        fold = (np.log2((np.expm1(mean_in) + 1e-9) / (np.expm1(mean_rest) + 1e-9))
                if log_normalised else np.full_like(mean_in, np.nan))
    direction = np.where(mean_in > mean_rest, "up", np.where(mean_in < mean_rest, "down", "equal"))
    n_genes = len(genes)
    return pd.DataFrame({
        "cell_type": np.repeat(type_names, n_genes),
        "gene": np.tile(np.asarray(genes, dtype=object), len(type_names)),
        "mean_in_type": mean_in.ravel(),
        "mean_rest": mean_rest.ravel(),
        "logfoldchange": fold.ravel(),
        "direction": direction.ravel().astype(object),
    })


def direction_from_prepared(prepared, cell_type_key: str = LABEL_KEY) -> pd.DataFrame:
    """``gene_direction`` over all cells of a prepared dataset.

    Uses the log-normalised expression when the dataset has it (``layers["lognorm"]``, or ``X``
    in the sparse layout; as the DE baseline does), else the model input ``X`` (scaled values:
    same direction, no fold change).
    ``prepared`` may be opened with ``backed="r"``; only the layer or ``X`` is read.
    """
    if cell_type_key not in prepared.obs:
        raise ScrobinError(f"obs has no column '{cell_type_key}': set cell_type_key to one of "
                           f"{', '.join(map(str, prepared.obs.columns))}")
    from scrobin.prepared_layout import lognorm_expression

    lognorm = lognorm_expression(prepared)
    has_lognorm = lognorm is not None
    expression = lognorm if has_lognorm else prepared.X
    if not (sp.issparse(expression) or isinstance(expression, np.ndarray)):
        expression = expression[:]
    return gene_direction(expression, prepared.obs[cell_type_key], prepared.var_names,
                          log_normalised=has_lognorm)


def direction_mask(directions: pd.Series, direction: str) -> np.ndarray:
    """Rows whose gene direction matches ``direction`` (every row for ``any``)."""
    if direction not in DIRECTIONS:
        raise ScrobinError(f"direction '{direction}' is unknown: use one of {', '.join(DIRECTIONS)}")
    values = directions.to_numpy(dtype=object)
    return np.ones(len(values), dtype=bool) if direction == "any" else values == direction


def _within_type_rank(table: pd.DataFrame, sort_columns: list[str]) -> np.ndarray:
    """1-based position of each row within its cell type after a stable sort by ``sort_columns``."""
    ordered = table.sort_values(["type_order", *sort_columns], kind="stable")
    return ordered.groupby("type_order").cumcount().add(1).reindex(table.index).to_numpy()


def with_direction(importance: pd.DataFrame, directions: pd.DataFrame,
                   direction: str = "up") -> pd.DataFrame:
    """Add each gene's direction to an importance table and rank the chosen direction first.

    Parameters
    ----------
    importance
        ``cell_type_importance`` output (sorted by type, ``rank`` by score).
    directions
        ``gene_direction`` output for the same cell types and genes.
    direction
        ``up`` (default): genes higher in the type than in the rest come first, in score order,
        then all others in score order, so a top-N list is evidence *for* the type; ``down``: the
        genes lower in the type first; ``any``: score alone (the ranking before directions).

    Returns
    -------
    pandas.DataFrame
        The table with ``mean_in_type, mean_rest, logfoldchange, direction`` and ``absence_rank``
        appended, ``rank`` recomputed and rows sorted by type then ``rank``. ``absence_rank`` ranks
        the genes lower in the type by score (1 = strongest evidence by absence); empty for the
        other genes.
    """
    missing = {"cell_type", "gene", "rank"} - set(importance.columns)
    if missing:
        raise ScrobinError(f"importance table lacks column(s) {', '.join(sorted(missing))}: pass "
                           f"the output of cell_type_importance")
    keys = ["cell_type", "gene"]
    merged = importance.drop(columns=[c for c in ADDED_COLUMNS if c in importance.columns])
    merged = merged.assign(cell_type=merged["cell_type"].astype(str)).merge(
        directions.loc[:, [*keys, *DIRECTION_COLUMNS]].assign(
            cell_type=directions["cell_type"].astype(str)),
        on=keys, how="left", validate="one_to_one")
    if merged["direction"].isna().any():
        lacking = merged.loc[merged["direction"].isna(), keys].iloc[0]
        raise ScrobinError(f"no expression direction for gene '{lacking['gene']}' in cell type "
                           f"'{lacking['cell_type']}': compute directions on the same cells and "
                           f"genes as the attributions")
    type_order = {name: index for index, name in enumerate(merged["cell_type"].unique())}
    merged["type_order"] = merged["cell_type"].map(type_order)
    merged["score_rank"] = merged["rank"]
    merged["other_direction"] = ~direction_mask(merged["direction"], direction)
    merged["rank"] = _within_type_rank(merged, ["other_direction", "score_rank"])
    down = merged["direction"].to_numpy(dtype=object) == "down"
    merged["not_down"] = ~down
    absence = pd.Series(_within_type_rank(merged, ["not_down", "score_rank"]), index=merged.index)
    merged["absence_rank"] = absence.where(down).astype("Int64")
    merged = merged.sort_values(["type_order", "rank"], kind="stable")
    return merged.drop(columns=["type_order", "score_rank", "other_direction", "not_down"]
                       ).reset_index(drop=True)


def flag_few_cells(table: pd.DataFrame, min_cells: int) -> pd.DataFrame:
    """Append ``few_cells``: True where a type's importance averages fewer than ``min_cells`` cells.

    Such a type's ranking rests on a handful of cells and should be read with care; it is flagged,
    not removed, so every type keeps a full ranking for the evaluations.
    """
    if "n_cells" not in table.columns:
        raise ScrobinError("importance table lacks column n_cells: pass cell_type_importance output")
    return table.assign(few_cells=table["n_cells"].to_numpy() < min_cells)


def with_type_trust(table: pd.DataFrame, per_class: pd.DataFrame,
                    min_type_f1: float) -> pd.DataFrame:
    """Append how well the explained model recognises each row's cell type.

    An explanation of a type the model does not recognise explains its mistakes, not the type:
    its genes are those that pull cells of other types into the class, or this type's cells out
    of it. Such a type is flagged, not removed, beside ``few_cells`` (too few cells averaged).

    Parameters
    ----------
    table
        Importance table (``cell_type_importance`` / ``ranked_importance``) or consensus table
        (``consensus_ranking``): a ``cell_type`` column.
    per_class
        The explained model's per-class test metrics, ``cell_type, f1, n_test_cells``
        (:func:`scrobin.metrics.per_class_table`, the ``per_class`` table the training rules
        write), one row per class.
    min_type_f1
        A type whose test F1 is below this is ``not_recognised``; 0 flags none
        (``importance.min_type_f1``, whose schema description argues its default).

    Returns
    -------
    pandas.DataFrame
        The table with ``type_f1`` (the type's test F1), ``n_test_cells`` (its test cells, the
        support of that F1) and ``not_recognised`` (``type_f1 < min_type_f1``) appended.

    Raises
    ------
    ScrobinError
        When a column is missing, ``min_type_f1`` is outside [0, 1], or a type of ``table`` has
        no row in ``per_class`` (metrics of another model or dataset).
    """
    missing = {"cell_type", "f1", "n_test_cells"} - set(per_class.columns)
    if missing or "cell_type" not in table.columns:
        raise ScrobinError(f"type trust needs a table with cell_type and per-class metrics with cell_type, f1 "
                           f"and n_test_cells (lacking: {', '.join(sorted(missing)) or 'cell_type in the table'}): "
                           f"pass the model's per_class table (scrobin.metrics.per_class_table)")
    if not 0.0 <= min_type_f1 <= 1.0:
        raise ScrobinError(f"min_type_f1 must lie in [0, 1], got {min_type_f1!r}")
    metrics = per_class.assign(cell_type=per_class["cell_type"].astype(str)).set_index("cell_type")
    if metrics.index.has_duplicates:
        raise ScrobinError("per-class metrics list a cell type twice: pass one row per class")
    types = table["cell_type"].astype(str)
    unknown = sorted(set(types) - set(metrics.index))
    if unknown:
        raise ScrobinError(f"the model's per-class metrics have no cell type '{unknown[0]}': pass the metrics "
                           f"of the model that was explained")
    type_f1 = metrics["f1"].astype(float).reindex(types).to_numpy()
    return table.assign(type_f1=type_f1,
                        n_test_cells=metrics["n_test_cells"].astype(int).reindex(types).to_numpy(),
                        not_recognised=type_f1 < min_type_f1)


def ranked_importance(attributions, directions: pd.DataFrame, settings: dict,
                      cell_type_key: str = LABEL_KEY) -> pd.DataFrame:
    """The ``importance`` stage: per-type importance, directions, ranking rule and cell-count flag.

    Parameters
    ----------
    attributions
        Attribution AnnData (cells x genes) as written by the ``attribute`` stage.
    directions
        ``gene_direction`` / ``direction_from_prepared`` output of the dataset.
    settings
        The config's ``importance`` section: ``rank_by``, ``direction``, ``min_cells``.

    Returns
    -------
    pandas.DataFrame
        ``IMPORTANCE_COLUMNS`` followed by ``ADDED_COLUMNS``, sorted by type then ``rank``.
    """
    table = importance_from_anndata(attributions, cell_type_key, rank_by=settings["rank_by"])
    table = with_direction(table, directions, settings["direction"])
    return flag_few_cells(table, settings["min_cells"]).loc[:, [*IMPORTANCE_COLUMNS,
                                                                 *ADDED_COLUMNS]]
