"""Per-cell-type importance: own cells only, signed vs absolute means, ranking rules, direction."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp
import torch

from scrobin.contract import LOGNORM_LAYER
from scrobin.attribution import compute_attributions
from scrobin.errors import ScrobinError
from scrobin.attribution.importance import (
    ADDED_COLUMNS,
    IMPORTANCE_COLUMNS,
    cell_type_importance,
    direction_from_prepared,
    gene_direction,
    importance_from_anndata,
    importance_matrix,
    ranked_genes,
    ranked_importance,
    with_direction,
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


def test_gene_direction_matches_scanpy_means_and_fold_changes():
    rng = np.random.default_rng(0)
    counts = rng.poisson(rng.uniform(0.2, 5.0, size=(1, 12)), size=(90, 12)).astype(np.float32)
    labels = np.repeat(["a", "b", "c"], 30)
    adata = ad.AnnData(X=counts, obs=pd.DataFrame({"cell_type": pd.Categorical(labels)},
                                                  index=[f"c{i}" for i in range(90)]))
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.tl.rank_genes_groups(adata, "cell_type", method="t-test", n_genes=12)
    expected = sc.get.rank_genes_groups_df(adata, group=None).rename(
        columns={"group": "cell_type", "names": "gene"}).astype({"cell_type": str})
    directions = gene_direction(sp.csr_matrix(adata.X), adata.obs["cell_type"], adata.var_names)
    merged = directions.merge(expected, on=["cell_type", "gene"], validate="one_to_one")
    assert len(merged) == 3 * 12
    assert np.allclose(merged["logfoldchange"], merged["logfoldchanges"], atol=1e-3)
    dense = np.asarray(adata.X)
    for _, row in merged.iterrows():
        in_type = labels == row["cell_type"]
        column = adata.var_names.get_loc(row["gene"])
        assert row["mean_in_type"] == pytest.approx(dense[in_type, column].mean(), rel=1e-5)
        assert row["mean_rest"] == pytest.approx(dense[~in_type, column].mean(), rel=1e-5)
    assert ((merged["direction"] == "up") == (merged["mean_in_type"] > merged["mean_rest"])).all()
    assert directions.equals(gene_direction(dense, adata.obs["cell_type"], adata.var_names))
    scaled = gene_direction(dense * 3.0 - 1.0, labels, adata.var_names, log_normalised=False)
    assert scaled["logfoldchange"].isna().all()
    assert (scaled["direction"] == directions["direction"]).all()


def test_gene_direction_sums_blocks_of_cells_like_all_at_once(monkeypatch):
    import scrobin.attribution.importance as importance

    rng = np.random.default_rng(1)
    expression = sp.random(95, 8, density=0.3, format="csr", dtype=np.float32, random_state=2)
    labels = pd.Categorical(rng.choice(["a", "b", "c"], 95))
    whole = gene_direction(expression, labels, GENES + [f"g{i}" for i in range(3, 8)])
    monkeypatch.setattr(importance, "DIRECTION_BLOCK_CELLS", 10)
    blocked = gene_direction(expression, labels, GENES + [f"g{i}" for i in range(3, 8)])
    pd.testing.assert_frame_equal(blocked, whole, check_exact=False, rtol=1e-12)


def _absence_data():
    """Type A expresses g_marker, type B g_absent; 20 A cells, 4 B cells, scaled like X."""
    rng = np.random.default_rng(1)
    labels = np.repeat(["A", "B"], [20, 4])
    lognorm = rng.uniform(0.0, 0.2, size=(24, 4))
    lognorm[labels == "A", 0] += 2.0
    lognorm[labels == "B", 1] += 2.0
    scaled = (lognorm - lognorm.mean(axis=0)) / lognorm.std(axis=0)
    prepared = ad.AnnData(X=scaled.astype(np.float32),
                          obs=pd.DataFrame({"cell_type": pd.Categorical(labels)},
                                           index=[f"cell{i}" for i in range(24)]),
                          var=pd.DataFrame(index=["g_marker", "g_absent", "g_noise1", "g_noise2"]))
    prepared.layers[LOGNORM_LAYER] = sp.csr_matrix(lognorm, dtype=np.float32)
    return prepared


def test_a_gene_absent_from_the_type_leads_only_its_own_list():
    """The issue's case: with a mean (zeros) baseline, a gene lower in type A that the model weighs
    against A gets a larger positive attribution for A than A's own marker; by default it is ranked
    after the genes expressed in A and leads A's evidence-by-absence list instead."""
    prepared = _absence_data()
    model = torch.nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -3.0, 0.0, 0.0], [-1.0, 3.0, 0.0, 0.0]]))
    targets = prepared.obs["cell_type"].cat.codes.to_numpy()
    attributions, _ = compute_attributions(model, prepared.X, targets, "integrated_gradients",
                                           {}, {"baseline": "zeros"}, device="cpu")
    attributed = ad.AnnData(X=attributions.astype(np.float32), obs=prepared.obs.copy(),
                            var=pd.DataFrame(index=prepared.var_names))
    directions = direction_from_prepared(prepared)
    settings = {"rank_by": "positive", "direction": "any", "min_cells": 5}
    plain = ranked_importance(attributed, directions, settings).set_index(["cell_type", "gene"])
    assert plain.loc[("A", "g_absent"), "rank"] == 1
    assert plain.loc[("A", "g_absent"), "direction"] == "down"
    assert plain.loc[("A", "g_absent"), "logfoldchange"] < 0

    table = ranked_importance(attributed, directions, {**settings, "direction": "up"})
    assert tuple(table.columns) == IMPORTANCE_COLUMNS + ADDED_COLUMNS
    type_a = table[table["cell_type"] == "A"].set_index("gene")
    assert type_a.loc["g_marker", "rank"] == 1
    assert type_a.loc["g_absent", "rank"] > (type_a["direction"] == "up").sum()
    assert type_a.loc["g_absent", "absence_rank"] == 1
    assert type_a.loc[type_a["direction"] == "up", "absence_rank"].isna().all()
    assert (type_a.loc[type_a["direction"] == "up", "logfoldchange"] > 0).all()
    assert ranked_genes(table)["A"][0] == "g_marker"

    down = ranked_importance(attributed, directions, {**settings, "direction": "down"})
    assert ranked_genes(down)["A"][0] == "g_absent"


def test_types_averaged_over_few_cells_are_flagged():
    prepared = _absence_data()
    attributed = ad.AnnData(X=np.asarray(prepared.X), obs=prepared.obs.copy(),
                            var=pd.DataFrame(index=prepared.var_names))
    table = ranked_importance(attributed, direction_from_prepared(prepared),
                              {"rank_by": "positive", "direction": "up", "min_cells": 5})
    per_type = table.groupby("cell_type")[["n_cells", "few_cells"]].first()
    assert per_type.loc["A"].tolist() == [20, False]
    assert per_type.loc["B"].tolist() == [4, True]


def test_with_direction_refuses_directions_of_other_genes():
    attributions, cell_types = _two_type_attributions()
    table = cell_type_importance(attributions, cell_types, GENES)
    directions = gene_direction(np.ones((10, 2)), cell_types, ["g0", "g1"])
    with pytest.raises(ScrobinError, match="no expression direction for gene 'g2'"):
        with_direction(table, directions)
    with pytest.raises(ScrobinError, match="direction 'sideways' is unknown"):
        with_direction(table, gene_direction(np.ones((10, 3)), cell_types, GENES), "sideways")
