"""DE baseline: the tie-corrected Wilcoxon test (as scipy's) finds planted markers; overlap carries its chance level."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp
from scipy import stats

from scrobin.contract import LOGNORM_LAYER
from scrobin.errors import ScrobinError
from scrobin.evaluation.de import DE_COLUMNS, de_overlap, de_ranking, de_top_genes
from scrobin.evaluation.figures import plot_de_venn
from scrobin.evaluation.ground_truth import ALL_TYPES

TYPES = ["alpha", "beta", "gamma"]
N_GENES = 40
GENES = [f"gene{i:02d}" for i in range(N_GENES)]
MARKERS = {cell_type: GENES[3 * index:3 * index + 3] for index, cell_type in enumerate(TYPES)}


@pytest.fixture(scope="module")
def lognormal_adata():
    """30 cells per type; each type expresses its three planted markers six times higher."""
    rng = np.random.default_rng(0)
    labels = np.repeat(TYPES, 30)
    rates = np.full((len(labels), N_GENES), 2.0)
    for index, cell_type in enumerate(TYPES):
        rates[labels == cell_type, 3 * index:3 * index + 3] = 12.0
    adata = ad.AnnData(X=rng.poisson(rates).astype(np.float32),
                       obs=pd.DataFrame({"cell_type": labels},
                                        index=[f"cell{i}" for i in range(len(labels))]),
                       var=pd.DataFrame(index=GENES))
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    adata.layers[LOGNORM_LAYER] = sp.csr_matrix(adata.X)  # sparse, as in a prepared dataset
    adata.X = (adata.X - adata.X.mean(axis=0)) / adata.X.std(axis=0)
    return adata


@pytest.fixture(scope="module")
def de_table(lognormal_adata):
    return de_ranking(lognormal_adata)


def _consensus_like(first: dict[str, list[str]]) -> pd.DataFrame:
    """Ranking with the given genes first for each type, the rest in gene order."""
    rows = []
    for cell_type in TYPES:
        ordered = first[cell_type] + [gene for gene in GENES if gene not in first[cell_type]]
        rows += [{"cell_type": cell_type, "gene": gene, "consensus_rank": rank}
                 for rank, gene in enumerate(ordered, start=1)]
    return pd.DataFrame(rows)


def test_wilcoxon_finds_the_planted_markers(de_table):
    assert tuple(de_table.columns) == DE_COLUMNS
    assert len(de_table) == len(TYPES) * N_GENES
    top = de_top_genes(de_table, top_n=3)
    assert {cell_type: sorted(genes) for cell_type, genes in top.items()} == MARKERS
    significant = de_table[de_table["significant"]]
    assert (significant["p_value_adj"] < 0.05).all() and (significant["logfoldchange"] > 0).all()


def test_de_ranking_carries_the_direction_of_each_gene(de_table):
    assert ((de_table["direction"] == "up") == (de_table["logfoldchange"] > 0)).all()
    assert (de_table["direction"] == "up").equals(de_table["mean_in_type"] > de_table["mean_rest"])
    markers = de_table[de_table.apply(lambda row: row["gene"] in MARKERS[row["cell_type"]], axis=1)]
    assert (markers["direction"] == "up").all() and (markers["rank"] <= 3).all()


def test_scaled_model_input_is_rejected(lognormal_adata):
    with pytest.raises(ScrobinError, match="negative values"):
        de_ranking(lognormal_adata, layer=None)
    with pytest.raises(ScrobinError, match="layer 'counts' is missing"):
        de_ranking(lognormal_adata, layer="counts")


def test_overlap_with_a_marker_ranking_beats_chance_and_a_wrong_one_does_not(de_table):
    good = de_overlap(de_table, _consensus_like(MARKERS), top_n=3).set_index("cell_type")
    wrong_genes = {cell_type: GENES[-3:] for cell_type in TYPES}
    wrong = de_overlap(de_table, _consensus_like(wrong_genes), top_n=3).set_index("cell_type")
    for cell_type in TYPES:
        assert good.loc[cell_type, "overlap"] == 3
        assert good.loc[cell_type, "expected"] == pytest.approx(3 * 3 / N_GENES)
        assert good.loc[cell_type, "p_value"] == pytest.approx(stats.hypergeom.sf(2, N_GENES, 3, 3))
        assert wrong.loc[cell_type, "overlap"] == 0
        assert wrong.loc[cell_type, "p_value"] == 1.0
    assert good.loc[ALL_TYPES, "overlap"] == 9
    assert good.loc[ALL_TYPES, "p_value"] < 1e-10


def test_venn_figure_is_written(de_table, tmp_path):
    overlap = de_overlap(de_table, _consensus_like(MARKERS), top_n=5)
    path = plot_de_venn(overlap, tmp_path / "venn.png")
    assert path.exists() and path.stat().st_size > 0


@pytest.fixture(scope="module")
def tied_adata():
    """Mostly-zero counts (many ties): each type's marker is expressed in only some of its cells,
    beside dense genes with a weaker shift, so the tie correction reorders genes."""
    rng = np.random.default_rng(5)
    labels = np.repeat(TYPES, [24, 30, 18])
    n_cells, n_genes = len(labels), 12
    counts = rng.poisson(0.15, size=(n_cells, n_genes)).astype(np.float32)
    for index, cell_type in enumerate(TYPES):
        in_type = labels == cell_type
        counts[in_type, index] += rng.poisson(2.0, in_type.sum()) * (rng.random(in_type.sum()) < 0.4)
        dense_gene = 3 + index
        counts[:, dense_gene] = rng.poisson(6.0, n_cells) + 2.5 * in_type
    return ad.AnnData(X=np.log1p(counts), obs=pd.DataFrame({"cell_type": labels},
                                                            index=[f"cell{i}" for i in range(n_cells)]),
                      var=pd.DataFrame(index=[f"g{j:02d}" for j in range(n_genes)]))


def _scipy_rank_sum(adata, cell_type):
    """Signed z-score and two-sided p of scipy's asymptotic Mann-Whitney U (ties corrected, no
    continuity correction), the type's cells against all others, per gene."""
    in_type = adata.obs["cell_type"].to_numpy() == cell_type
    result = stats.mannwhitneyu(adata.X[in_type], adata.X[~in_type], axis=0, method="asymptotic",
                                use_continuity=False)
    shift = result.statistic - in_type.sum() * (~in_type).sum() / 2
    return np.sign(shift) * stats.norm.isf(result.pvalue / 2), result.pvalue


def test_de_ranking_is_scipys_tie_corrected_rank_sum_test_with_bh(tied_adata):
    table = de_ranking(tied_adata, layer=None)
    assert (tied_adata.X == 0).mean() > 0.5
    for cell_type, rows in table.groupby("cell_type"):
        rows = rows.set_index("gene").loc[tied_adata.var_names]
        z, p_value = _scipy_rank_sum(tied_adata, cell_type)
        assert len(np.unique(np.round(z, 6))) == len(z)  # the ranking is unambiguous
        np.testing.assert_allclose(rows["p_value"], p_value, rtol=1e-6)
        np.testing.assert_allclose(rows["score"], z, rtol=1e-5)
        assert rows.sort_values("rank").index.tolist() == list(tied_adata.var_names[np.argsort(-z)])
        np.testing.assert_allclose(rows["p_value_adj"], stats.false_discovery_control(p_value, method="bh"),
                                   rtol=1e-6)


def test_the_uncorrected_test_differs_on_tied_data(tied_adata):
    corrected = de_ranking(tied_adata, layer=None)
    uncorrected = tied_adata.copy()
    sc.tl.rank_genes_groups(uncorrected, "cell_type", method="wilcoxon", n_genes=uncorrected.n_vars)
    plain = sc.get.rank_genes_groups_df(uncorrected, group=None).rename(
        columns={"group": "cell_type", "names": "gene"}).astype({"cell_type": str})
    merged = corrected.merge(plain, on=["cell_type", "gene"], validate="one_to_one")
    # Ties shrink the rank-sum variance, so the corrected p-values are smaller wherever genes tie.
    assert (merged["p_value"] <= merged["pvals"] * (1 + 1e-9)).all()
    assert (merged["p_value"] < 0.8 * merged["pvals"]).sum() >= len(TYPES)
    plain_order = plain.groupby("cell_type")["gene"].apply(list)
    corrected_order = corrected.sort_values("rank").groupby("cell_type")["gene"].apply(list)
    assert any(plain_order[t] != corrected_order[t] for t in TYPES)
