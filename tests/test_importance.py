"""Per-cell-type importance: own cells only, signed vs absolute means, ranking rules."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from scrobin.errors import ScrobinError
from scrobin.importance import (
    IMPORTANCE_COLUMNS,
    cell_type_importance,
    importance_from_anndata,
    importance_matrix,
    ranked_genes,
)

GENES = ["g0", "g1", "g2"]


def _two_type_attributions():
    """Type A (2 cells) relies on g0; type B (8 cells) on g1 and pushes g0 negative.

    Averaged over all 10 cells g1 wins for every type (1.7 vs -0.6), but A's own cells rank g0
    first, which is the answer the published all-cell averaging gets wrong.
    """
    type_a = np.tile([1.0, 0.5, 0.0], (2, 1))
    type_b = np.tile([-1.0, 2.0, 0.1], (8, 1))
    return np.vstack([type_a, type_b]), ["A"] * 2 + ["B"] * 8


def test_importance_uses_only_the_types_own_cells():
    attributions, cell_types = _two_type_attributions()
    all_cell_mean = attributions.mean(axis=0)
    assert np.argmax(all_cell_mean) == 1

    table = cell_type_importance(attributions, cell_types, GENES)
    type_a = table[table["cell_type"] == "A"].set_index("gene")
    assert type_a.loc["g0", "rank"] == 1
    assert type_a.loc["g0", "mean_signed"] == pytest.approx(1.0)
    assert type_a.loc["g1", "mean_signed"] == pytest.approx(0.5)
    assert set(type_a["n_cells"]) == {2}
    type_b = table[table["cell_type"] == "B"].set_index("gene")
    assert list(type_b.sort_values("rank").index) == ["g1", "g2", "g0"]
    assert set(type_b["n_cells"]) == {8}


def test_table_is_long_tidy_and_sorted_by_type_then_rank():
    attributions, cell_types = _two_type_attributions()
    table = cell_type_importance(attributions, cell_types, GENES)
    assert tuple(table.columns) == IMPORTANCE_COLUMNS
    assert len(table) == 2 * len(GENES)
    assert list(table["rank"]) == [1, 2, 3, 1, 2, 3]
    assert list(table["cell_type"]) == ["A"] * 3 + ["B"] * 3


def test_categorical_types_keep_their_order_and_drop_unused_categories():
    attributions, cell_types = _two_type_attributions()
    labels = pd.Categorical(cell_types, categories=["B", "unused", "A"])
    table = cell_type_importance(attributions, labels, GENES)
    assert list(table["cell_type"].unique()) == ["B", "A"]


def test_signed_and_absolute_means_and_the_three_ranking_rules():
    # g0 flips sign between cells (net 0, large magnitude), g1 is steadily +1, g2 steadily -2.
    attributions = np.array([[3.0, 1.0, -2.0], [-3.0, 1.0, -2.0]])
    cell_types = ["T", "T"]
    positive = cell_type_importance(attributions, cell_types, GENES, rank_by="positive")
    by_gene = positive.set_index("gene")
    assert by_gene["mean_signed"].to_dict() == pytest.approx({"g0": 0.0, "g1": 1.0, "g2": -2.0})
    assert by_gene["mean_abs"].to_dict() == pytest.approx({"g0": 3.0, "g1": 1.0, "g2": 2.0})
    assert list(positive["gene"]) == ["g1", "g0", "g2"]
    absolute = cell_type_importance(attributions, cell_types, GENES, rank_by="absolute")
    assert list(absolute["gene"]) == ["g0", "g2", "g1"]
    signed_abs = cell_type_importance(attributions, cell_types, GENES, rank_by="signed_abs")
    assert list(signed_abs["gene"]) == ["g2", "g1", "g0"]
    assert list(signed_abs["score"]) == pytest.approx([2.0, 1.0, 0.0])


def test_vectorised_means_match_a_pandas_groupby():
    rng = np.random.default_rng(0)
    attributions = rng.normal(size=(60, 7)).astype(np.float32)
    cell_types = rng.choice(["x", "y", "z"], size=60)
    genes = [f"gene{i}" for i in range(7)]
    table = cell_type_importance(attributions, cell_types, genes)
    frame = pd.DataFrame(attributions.astype(np.float64), columns=genes)
    expected_signed = frame.groupby(cell_types).mean()
    expected_abs = frame.abs().groupby(cell_types).mean()
    assert np.allclose(importance_matrix(table, "mean_signed").T.loc[expected_signed.index,
                                                                      genes], expected_signed,
                       atol=1e-6)
    assert np.allclose(importance_matrix(table, "mean_abs").T.loc[expected_abs.index, genes],
                       expected_abs, atol=1e-6)


def test_importance_matrix_is_genes_by_types():
    attributions, cell_types = _two_type_attributions()
    wide = importance_matrix(cell_type_importance(attributions, cell_types, GENES), "rank")
    assert list(wide.columns) == ["A", "B"]
    assert list(wide.index) == ["g0", "g1", "g2"]
    assert wide.loc["g0", "A"] == 1 and wide.loc["g0", "B"] == 3


def test_ranked_genes_orders_each_type():
    attributions, cell_types = _two_type_attributions()
    ranked = ranked_genes(cell_type_importance(attributions, cell_types, GENES))
    assert list(ranked["A"]) == ["g0", "g1", "g2"]
    assert list(ranked["B"]) == ["g1", "g2", "g0"]


def test_importance_from_anndata_reads_obs_and_layers():
    attributions, cell_types = _two_type_attributions()
    adata = ad.AnnData(X=np.zeros_like(attributions), obs=pd.DataFrame({"cell_type": cell_types},
                                                  index=[f"cell{i}" for i in range(10)]),
                       var=pd.DataFrame(index=GENES))
    adata.layers["saliency"] = attributions
    table = importance_from_anndata(adata, layer="saliency")
    assert table.set_index(["cell_type", "gene"]).loc[("A", "g0"), "rank"] == 1
    with pytest.raises(ScrobinError, match="obs has no column 'label'"):
        importance_from_anndata(adata, cell_type_key="label")


@pytest.mark.parametrize("change, message", [
    ({"rank_by": "largest"}, "rank_by 'largest' is unknown"),
    ({"genes": ["g0", "g1"]}, "2 gene names were given for 3"),
    ({"genes": ["g0", "g0", "g1"]}, "not unique"),
    ({"cell_types": ["A"] * 9}, "9 cell types were given for 10"),
])
def test_bad_input_is_a_one_line_error(change, message):
    attributions, cell_types = _two_type_attributions()
    arguments = {"attributions": attributions, "cell_types": cell_types, "genes": GENES, **change}
    with pytest.raises(ScrobinError, match=message):
        cell_type_importance(**arguments)


def test_non_finite_attributions_are_rejected():
    attributions, cell_types = _two_type_attributions()
    attributions[0, 0] = np.nan
    with pytest.raises(ScrobinError, match="NaN"):
        cell_type_importance(attributions, cell_types, GENES)
