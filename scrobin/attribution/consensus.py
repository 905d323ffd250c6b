"""Consensus importance score across attribution methods (Sadria et al. 2023, Fig. 3c/4c).

For each cell type a gene gets one vote from every method that ranks it in its top ``top_n``; genes
are ordered by votes. The paper leaves ties unresolved, and with a handful of methods most genes
tie, so ties are broken by the gene's mean rank over methods (every method ranks every gene), then
by name. The result is a full ranking per type, so the consensus can be evaluated exactly like any
single method.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from scipy.cluster import hierarchy

from scrobin.errors import ScrobinError
from scrobin.validators import require_positive_int
from scrobin.figures import save_figure
from scrobin.attribution.importance import DIRECTION_COLUMNS, TRUST_COLUMNS, direction_mask, importance_matrix

CONSENSUS_COLUMNS = ("cell_type", "gene", "votes", "mean_rank", "consensus_rank", "methods")
# Type flags of a consensus table and how the heatmap's axis labels say them.
TYPE_FLAG_LABELS = {"few_cells": "too few", "not_recognised": "not recognised"}


def _rank_table(importances: Mapping[str, pd.DataFrame], column: str = "rank") -> pd.DataFrame:
    """(cell type, gene) x method matrix of one rank column, rejecting methods that rank different genes."""
    if not importances:
        raise ScrobinError("no importance tables were given: pass a dict method -> importance "
                           "table")
    columns = {}
    reference_index = None
    for method, table in importances.items():
        if "," in method:
            raise ScrobinError(f"method name '{method}' contains a comma: rename it, the 'methods' "
                               f"column is comma-separated")
        missing = {"cell_type", "gene", column} - set(table.columns)
        if missing:
            raise ScrobinError(f"importance table of '{method}' lacks column(s) "
                               f"{', '.join(sorted(missing))}: pass cell_type_importance output")
        ranks = table.set_index(["cell_type", "gene"])[column]
        if ranks.index.has_duplicates:
            raise ScrobinError(f"importance table of '{method}' lists a gene twice for a cell "
                               f"type: pass one row per cell type and gene")
        if reference_index is None:
            reference_index = ranks.index
        elif (len(ranks.index) != len(reference_index)
              or not ranks.index.isin(reference_index).all()):
            raise ScrobinError(f"method '{method}' ranks other cell types or genes than "
                               f"'{next(iter(importances))}': compute all methods on the same data")
        columns[method] = ranks.reindex(reference_index).astype(float)
    return pd.DataFrame(columns, index=reference_index)


def _votes(ranks: pd.DataFrame, top_n: int) -> pd.DataFrame:
    """Votes (methods ranking a gene in their top ``top_n``), mean rank and the voting methods."""
    in_top = (ranks <= top_n).to_numpy()
    voters = pd.Series("", index=ranks.index)
    for column, method in enumerate(ranks.columns):
        voters = voters.where(~in_top[:, column], voters + method + ",")
    return pd.DataFrame({
        "votes": in_top.sum(axis=1),
        "mean_rank": ranks.mean(axis=1).to_numpy(),
        "methods": voters.str.rstrip(",").to_numpy(),
    }, index=ranks.index)


def _type_facts(importances: Mapping[str, pd.DataFrame], index: pd.MultiIndex) -> pd.DataFrame:
    """Direction and cell-count columns of the importance tables, aligned to ``index``.

    Directions describe the data, not a method, so the first table's are taken; a type's cell count
    is the smallest any method averaged over, and it is flagged if any method flagged it; the
    explained model's per-type F1 (``with_type_trust``) is the same in every table.
    """
    tables = list(importances.values())
    facts = pd.DataFrame(index=index)
    present = [c for c in DIRECTION_COLUMNS if all(c in t.columns for t in tables)]
    if present:
        facts = facts.join(tables[0].set_index(["cell_type", "gene"])[present])
    # The model's per-type F1 is the same in every table: the first table's.
    combines = {"n_cells": "min", "few_cells": "max", **dict.fromkeys(TRUST_COLUMNS, lambda values: values.iloc[0])}
    for column, combine in combines.items():
        if all(column in t.columns for t in tables):
            per_type = pd.concat([t.groupby("cell_type", sort=False)[column].first()
                                  for t in tables], axis=1).agg(combine, axis=1)
            facts[column] = per_type.reindex(index.get_level_values("cell_type")).to_numpy()
    for flag in ("few_cells", "not_recognised"):
        if flag in facts:
            facts[flag] = facts[flag].astype(bool)
    return facts


def consensus_ranking(importances: Mapping[str, pd.DataFrame], top_n: int = 20) -> pd.DataFrame:
    """Votes, mean rank and consensus rank of every gene for every cell type.

    Parameters
    ----------
    importances
        Method name -> long importance table (``cell_type_importance`` output, or the importance
        stage's ``ranked_importance`` output with directions) of one regime.
    top_n
        A method votes for the genes it ranks in its top ``top_n`` (the paper: 20 on simulated data,
        150 on hippocampus).

    Returns
    -------
    pandas.DataFrame
        Long table ``cell_type, gene, votes, mean_rank, consensus_rank, methods`` with every gene
        of every type, sorted by cell type (first table's order) then ``consensus_rank`` (1 = best:
        most votes, then lowest mean rank, then name). ``methods`` lists the voting methods,
        comma-separated in input order, empty when none voted. When the importance tables carry
        them, these columns follow: ``absence_votes`` and ``absence_rank`` (the same vote over the
        methods' ``absence_rank``, the evidence-by-absence list; empty for genes not lower in the
        type), the gene's ``mean_in_type, mean_rest, logfoldchange, direction``, and the type's
        ``n_cells`` and ``few_cells``.
    """
    require_positive_int(top_n, "consensus top_n")
    ranks = _rank_table(importances)
    table = _votes(ranks, top_n)
    extra_columns = []
    if all("absence_rank" in t.columns for t in importances.values()):
        absence = _votes(_rank_table(importances, "absence_rank"), top_n)
        table["absence_votes"] = absence["votes"]
        table["absence_mean_rank"] = absence["mean_rank"]
        extra_columns += ["absence_votes", "absence_rank"]
    facts = _type_facts(importances, ranks.index)
    table = table.join(facts).reset_index()
    extra_columns += list(facts.columns)

    type_order = {name: index for index, name in enumerate(table["cell_type"].unique())}
    table["type_order"] = table["cell_type"].map(type_order)
    if "absence_votes" in table:
        listed = table[table["absence_mean_rank"].notna()].sort_values(
            ["type_order", "absence_votes", "absence_mean_rank", "gene"],
            ascending=[True, False, True, True], kind="stable")
        table["absence_rank"] = (listed.groupby("type_order").cumcount() + 1).reindex(
            table.index).astype("Int64")
    table = table.sort_values(["type_order", "votes", "mean_rank", "gene"],
                              ascending=[True, False, True, True], kind="stable")
    table["consensus_rank"] = table.groupby("type_order").cumcount() + 1
    return table.loc[:, [*CONSENSUS_COLUMNS, *extra_columns]].reset_index(drop=True)


def top_consensus_genes(consensus: pd.DataFrame, top_k: int = 15, min_votes: int = 0,
                        direction: str = "any") -> dict[str, list[str]]:
    """The ``top_k`` best consensus genes of each cell type, best first.

    Parameters
    ----------
    consensus
        ``consensus_ranking`` output.
    top_k
        Genes per type (the paper enriches the top 15 and compares the top 100 with DE genes).
    min_votes
        Drop genes with fewer votes, so a list can be shorter than ``top_k`` when methods agree on
        few genes; 0 keeps the mean-rank tie-break order for the whole list.
    direction
        ``up`` or ``down`` keeps only genes of that direction (the table's ``direction`` column),
        so the list can be shorter than ``top_k`` for a type with few such genes; ``any`` keeps all.
    """
    missing = {"cell_type", "gene", "votes", "consensus_rank"} - set(consensus.columns)
    if direction != "any" and "direction" not in consensus.columns:
        missing.add("direction")
    if missing:
        raise ScrobinError(f"consensus table lacks column(s) {', '.join(sorted(missing))}: pass "
                           f"consensus_ranking output")
    chosen = consensus[(consensus["consensus_rank"] <= top_k) & (consensus["votes"] >= min_votes)]
    if direction != "any":
        chosen = chosen[direction_mask(chosen["direction"], direction)]
    chosen = chosen.sort_values("consensus_rank", kind="stable")
    return {cell_type: group["gene"].tolist()
            for cell_type, group in chosen.groupby("cell_type", sort=False, observed=True)}


def _type_labels(consensus: pd.DataFrame, cell_types) -> list[str]:
    """Axis labels naming the cells behind each type's importance, flagging too few cells and a
    type the model does not recognise (``with_type_trust``)."""
    if "n_cells" not in consensus.columns:
        return [str(t) for t in cell_types]
    per_type = consensus.groupby("cell_type", sort=False).first()
    flags = [(column, text) for column, text in TYPE_FLAG_LABELS.items() if column in per_type]
    return [f"{t} ({per_type.loc[t, 'n_cells']} cells"
            + "".join(f", {text}" for column, text in flags if per_type.loc[t, column]) + ")"
            for t in cell_types]


def _leaf_order(matrix: np.ndarray) -> tuple[list[int], np.ndarray | None]:
    """Average-linkage leaf order of the rows of ``matrix`` and the linkage (None below 2 rows)."""
    if matrix.shape[0] < 2:
        return list(range(matrix.shape[0])), None
    linkage = hierarchy.linkage(matrix, method="average", metric="euclidean")
    return list(hierarchy.leaves_list(linkage)), linkage


def plot_consensus_heatmap(consensus: pd.DataFrame, path, top_k: int = 10,
                           max_votes: int | None = None, title: str | None = None,
                           direction: str = "any") -> Path:
    """Clustered heatmap of votes, genes x cell types, over the union of each type's top genes.

    Rows and columns are ordered by average-linkage hierarchical clustering (dendrograms drawn at
    the margins), so genes shared by related types sit together as in the paper's Fig. 3c/4c.

    Parameters
    ----------
    consensus
        ``consensus_ranking`` output.
    path
        Output image (PNG, SVG or PDF by suffix).
    top_k
        Genes taken from each type before the union.
    max_votes
        Upper end of the colour scale; give the number of methods so heatmaps of different regimes
        share one scale. ``None`` uses the largest plotted vote count.
    title
        Figure title.
    direction
        Direction of the genes shown, as in ``top_consensus_genes``.

    Cell types are labelled with the number of cells their importance averages, ``too few`` when
    the table flags them (``few_cells``) and ``not recognised`` when the model's test F1 of the type
    is below the threshold (``not_recognised``, :func:`scrobin.attribution.importance.with_type_trust`).
    """
    genes = list(dict.fromkeys(g for ranked in top_consensus_genes(consensus, top_k,
                                                                    direction=direction).values()
                               for g in ranked))
    votes = importance_matrix(consensus, value="votes").loc[genes]
    matrix = votes.to_numpy(dtype=float)
    row_order, row_linkage = _leaf_order(matrix)
    column_order, column_linkage = _leaf_order(matrix.T)
    ordered = matrix[np.ix_(row_order, column_order)]
    top_value = int(max_votes if max_votes is not None else max(ordered.max(), 1.0))

    n_rows, n_columns = ordered.shape
    figure = Figure(figsize=(3.0 + 0.35 * n_columns, 2.0 + 0.16 * n_rows))
    grid = figure.add_gridspec(2, 2, width_ratios=[1.0, 0.35 * n_columns],
                               height_ratios=[1.0, 0.16 * n_rows], wspace=0.02, hspace=0.02)
    heat_axes = figure.add_subplot(grid[1, 1])
    # Leaf i of a scipy dendrogram sits at 10 * i + 5; the image uses the same coordinates so the
    # dendrogram branches end on their rows and columns.
    # Votes are counts: one colour per count 0..top_value, a tick on each.
    colours = colormaps["viridis"].resampled(top_value + 1)
    image = heat_axes.imshow(ordered, origin="lower", aspect="auto", cmap=colours, vmin=-0.5,
                             vmax=top_value + 0.5, extent=(0, 10 * n_columns, 0, 10 * n_rows),
                             interpolation="nearest")
    heat_axes.set_xticks(10 * np.arange(n_columns) + 5)
    heat_axes.set_xticklabels(_type_labels(consensus, votes.columns[column_order]), rotation=90)
    heat_axes.set_yticks(10 * np.arange(n_rows) + 5)
    heat_axes.set_yticklabels(votes.index[row_order], fontsize=6)
    heat_axes.yaxis.tick_right()
    row_axes = figure.add_subplot(grid[1, 0])
    column_axes = figure.add_subplot(grid[0, 1])
    for axes, linkage, orientation in ((row_axes, row_linkage, "left"),
                                       (column_axes, column_linkage, "top")):
        if linkage is not None:
            hierarchy.dendrogram(linkage, ax=axes, orientation=orientation, no_labels=True,
                                 color_threshold=0, above_threshold_color="0.3")
        axes.set_axis_off()
    row_axes.set_ylim(0, 10 * n_rows)
    column_axes.set_xlim(0, 10 * n_columns)
    # The free top-left corner holds the colour bar, as in a seaborn clustermap.
    corner = grid[0, 0].subgridspec(1, 3, width_ratios=[1, 1, 3])[0, 1]
    colorbar = figure.colorbar(image, cax=figure.add_subplot(corner), ticks=range(top_value + 1))
    colorbar.set_label(f"votes (of {top_value})")
    figure.suptitle(title or "Consensus importance score")
    return save_figure(figure, path)
