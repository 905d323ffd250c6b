"""Consensus importance score: votes in the top N, mean-rank tie-break, voting methods, heatmap."""

import numpy as np
import pandas as pd
import pytest

from scrobin.attribution.consensus import (
    CONSENSUS_COLUMNS,
    _type_labels,
    consensus_ranking,
    plot_consensus_heatmap,
    top_consensus_genes,
)
from scrobin.errors import ScrobinError
from scrobin.attribution.importance import cell_type_importance, flag_few_cells, gene_direction, with_direction


def _ranking(orders: dict[str, list[str]]) -> pd.DataFrame:
    """Importance-like table from cell type -> genes in rank order."""
    return pd.DataFrame([{"cell_type": cell_type, "gene": gene, "rank": rank}
                         for cell_type, genes in orders.items()
                         for rank, gene in enumerate(genes, start=1)])


# Names are chosen so alphabetical order contradicts the mean-rank tie-break of type t1.
HAND_MADE = {
    "m1": _ranking({"t1": ["B", "Z", "M", "A", "C"], "t2": ["C", "A", "M", "Z", "B"]}),
    "m2": _ranking({"t1": ["B", "M", "Z", "C", "A"], "t2": ["C", "A", "M", "Z", "B"]}),
    "m3": _ranking({"t1": ["B", "A", "Z", "M", "C"], "t2": ["A", "C", "Z", "M", "B"]}),
}


def test_votes_ties_broken_by_mean_rank_and_voting_methods_listed():
    consensus = consensus_ranking(HAND_MADE, top_n=2)
    assert tuple(consensus.columns) == CONSENSUS_COLUMNS
    t1 = consensus[consensus["cell_type"] == "t1"].set_index("gene")
    # B: top 2 everywhere; Z, M, A: one vote each, mean ranks 8/3, 3, 11/3; C: none.
    assert list(t1.index) == ["B", "Z", "M", "A", "C"]
    assert list(t1["votes"]) == [3, 1, 1, 1, 0]
    assert list(t1["mean_rank"]) == pytest.approx([1.0, 8 / 3, 3.0, 11 / 3, 14 / 3])
    assert list(t1["consensus_rank"]) == [1, 2, 3, 4, 5]
    assert t1["methods"].to_dict() == {"B": "m1,m2,m3", "Z": "m1", "M": "m2", "A": "m3", "C": ""}
    t2 = consensus[consensus["cell_type"] == "t2"]
    assert list(t2["gene"]) == ["C", "A", "M", "Z", "B"]
    assert list(t2["votes"]) == [3, 3, 0, 0, 0]


def test_top_n_changes_the_votes():
    consensus = consensus_ranking(HAND_MADE, top_n=3).set_index(["cell_type", "gene"])
    assert consensus.loc[("t1", "Z"), "votes"] == 3
    assert consensus.loc[("t1", "M"), "methods"] == "m1,m2"


def test_top_consensus_genes_per_type_with_minimum_votes():
    consensus = consensus_ranking(HAND_MADE, top_n=2)
    assert top_consensus_genes(consensus, top_k=3) == {"t1": ["B", "Z", "M"], "t2": ["C", "A", "M"]}
    assert top_consensus_genes(consensus, top_k=3, min_votes=1) == {"t1": ["B", "Z", "M"],
                                                                      "t2": ["C", "A"]}


def test_consensus_of_real_importance_tables():
    rng = np.random.default_rng(1)
    cell_types = np.repeat(["alpha", "beta", "gamma"], 10)
    genes = [f"gene{i}" for i in range(12)]
    signal = np.zeros((30, 12))
    for index, cell_type in enumerate(["alpha", "beta", "gamma"]):
        signal[cell_types == cell_type, index] = 5.0
    importances = {f"method{m}": cell_type_importance(signal + rng.normal(size=signal.shape),
                                                      cell_types, genes) for m in range(4)}
    consensus = consensus_ranking(importances, top_n=3)
    best = top_consensus_genes(consensus, top_k=1)
    assert best == {"alpha": ["gene0"], "beta": ["gene1"], "gamma": ["gene2"]}
    assert set(consensus.loc[consensus["consensus_rank"] == 1, "votes"]) == {4}


def test_methods_ranking_different_genes_are_rejected():
    mismatched = {**HAND_MADE, "m4": _ranking({"t1": ["B", "Z", "M", "A", "Q"],
                                               "t2": ["C", "A", "M", "Z", "B"]})}
    with pytest.raises(ScrobinError, match="method 'm4' ranks other cell types or genes"):
        consensus_ranking(mismatched)
    with pytest.raises(ScrobinError, match="top_n must be a positive integer"):
        consensus_ranking(HAND_MADE, top_n=0)
    with pytest.raises(ScrobinError, match="no importance tables"):
        consensus_ranking({})


def test_clustered_heatmap_is_written(tmp_path):
    rng = np.random.default_rng(2)
    genes = [f"gene{i}" for i in range(30)]
    importances = {f"method{m}": _ranking({f"type{t}": list(rng.permutation(genes))
                                           for t in range(4)}) for m in range(3)}
    path = plot_consensus_heatmap(consensus_ranking(importances, top_n=5), tmp_path / "c" / "h.png",
                                  top_k=5, max_votes=3)
    assert path.exists() and path.stat().st_size > 0


def test_heatmap_of_a_single_cell_type_has_no_column_clustering(tmp_path):
    consensus = consensus_ranking({name: table[table["cell_type"] == "t1"]
                                   for name, table in HAND_MADE.items()}, top_n=2)
    path = plot_consensus_heatmap(consensus, tmp_path / "single.png", top_k=3)
    assert path.stat().st_size > 0


def _directed_importances():
    """Two methods on types t1 (12 cells) and t2 (3 cells): in t1, genes D1 and D2 are lower than
    in t2 yet score highest (evidence by absence), U1 and U2 are expressed in t1."""
    genes = ["D1", "U1", "D2", "U2", "N"]
    cell_types = np.repeat(["t1", "t2"], [12, 3])
    expression = np.ones((15, 5))
    expression[cell_types == "t1", 1] = expression[cell_types == "t1", 3] = 3.0
    expression[cell_types == "t2", 0] = expression[cell_types == "t2", 2] = 3.0
    directions = gene_direction(expression, cell_types, genes)
    scores = {"m1": [5.0, 4.0, 3.0, 2.0, 1.0], "m2": [4.0, 5.0, 3.0, 1.0, 2.0]}
    return {method: flag_few_cells(with_direction(
        cell_type_importance(np.tile(values, (15, 1)), cell_types, genes), directions), 5)
        for method, values in scores.items()}


def test_consensus_carries_direction_cell_counts_and_the_absence_list():
    consensus = consensus_ranking(_directed_importances(), top_n=2)
    assert tuple(consensus.columns[:len(CONSENSUS_COLUMNS)]) == CONSENSUS_COLUMNS
    assert {"absence_votes", "absence_rank", "mean_in_type", "mean_rest", "logfoldchange",
            "direction", "n_cells", "few_cells"} <= set(consensus.columns)
    t1 = consensus[consensus["cell_type"] == "t1"].set_index("gene")
    assert list(t1.index[:2]) == ["U1", "U2"]
    assert (t1.loc[["U1", "U2"], "direction"] == "up").all()
    assert t1.loc["D1", "absence_rank"] == 1 and t1.loc["D1", "absence_votes"] == 2
    assert t1.loc["D2", "absence_rank"] == 2
    assert t1.loc[["U1", "U2", "N"], "absence_rank"].isna().all()
    assert set(t1["n_cells"]) == {12} and not t1["few_cells"].any()
    t2 = consensus[consensus["cell_type"] == "t2"]
    assert set(t2["n_cells"]) == {3} and t2["few_cells"].all()
    assert _type_labels(consensus, ["t1", "t2"]) == ["t1 (12 cells)", "t2 (3 cells, too few)"]


def test_enrichment_genes_are_those_expressed_in_the_type():
    consensus = consensus_ranking(_directed_importances(), top_n=2)
    assert top_consensus_genes(consensus, top_k=3, direction="up")["t1"] == ["U1", "U2"]
    assert top_consensus_genes(consensus, top_k=3, direction="any")["t1"] == ["U1", "U2", "D1"]
    with pytest.raises(ScrobinError, match="lacks column"):
        top_consensus_genes(consensus_ranking(HAND_MADE), direction="up")
