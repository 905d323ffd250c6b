"""Consensus importance score: votes in the top N, mean-rank tie-break, voting methods, heatmap."""

import numpy as np
import pandas as pd
import pytest

from scrobin.consensus import (
    CONSENSUS_COLUMNS,
    consensus_ranking,
    plot_consensus_heatmap,
    top_consensus_genes,
)
from scrobin.errors import ScrobinError
from scrobin.importance import cell_type_importance


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
