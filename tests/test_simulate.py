"""Tests of the GRN simulator: determinism, count realism, truth consistent with the network,
learnability, key genes hidden from plain differential expression, h5ad round trip, validation."""

from __future__ import annotations

import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from scrobin.contract import GROUND_TRUTH_KEY, SIMULATION_KEY
from scrobin.errors import ScrobinError
from scrobin.data.simulate import SIMULATION_DEFAULTS, simulate, validate_simulation_params

SMALL = {"n_cells": 300, "n_genes": 200, "n_cell_types": 4}


@pytest.fixture(scope="module")
def small() -> ad.AnnData:
    return simulate(**SMALL, seed=1)


def _log_normalised(adata: ad.AnnData) -> np.ndarray:
    counts = adata.X.toarray()
    return np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4)


def _mean_in_and_out(expression: np.ndarray, cell_types: np.ndarray, gene_index: int,
                     cell_type: str) -> tuple[float, float]:
    in_type = cell_types == cell_type
    return expression[in_type, gene_index].mean(), expression[~in_type, gene_index].mean()


def _edges(adata: ad.AnnData) -> dict[str, np.ndarray]:
    return {name: np.asarray(values) for name, values in adata.uns[GROUND_TRUTH_KEY]["edges"].items()}


def test_same_seed_gives_identical_data():
    first, second = simulate(**SMALL, seed=7), simulate(**SMALL, seed=7)
    assert (first.X != second.X).nnz == 0
    assert first.var.equals(second.var)
    assert first.obs.equals(second.obs)


def test_different_seed_gives_different_data():
    first, second = simulate(**SMALL, seed=7), simulate(**SMALL, seed=8)
    assert (first.X != second.X).nnz > 0
    assert not first.var["key_for"].equals(second.var["key_for"])


def test_counts_are_sparse_integers_with_realistic_zeros_and_library_sizes(small):
    assert isinstance(small.X, sp.csr_matrix) and small.X.dtype == np.float32
    counts = small.X.toarray()
    assert counts.min() >= 0 and np.array_equal(counts, np.round(counts))
    assert 0.4 <= np.mean(counts == 0) <= 0.8
    library_size = counts.sum(axis=1)
    assert library_size.min() > 0
    assert library_size.std() / library_size.mean() > 0.15


def test_labels_and_names_follow_the_contract(small):
    cell_type = small.obs["cell_type"]
    assert isinstance(cell_type.dtype, pd.CategoricalDtype)
    assert list(cell_type.cat.categories) == ["type_0", "type_1", "type_2", "type_3"]
    assert cell_type.value_counts().min() == SMALL["n_cells"] // SMALL["n_cell_types"]
    assert all(re.fullmatch(r"g\d{4}", name) for name in small.var_names)
    n_key = int((small.var["key_for"] != "").sum())
    # Shuffled gene order: the regulators are not simply the first genes.
    assert (small.var["key_for"].iloc[:n_key] == "").any()


def test_dropout_and_overdispersion_add_zeros():
    clean = simulate(**SMALL, seed=1, dropout_percentile=0.0, count_overdispersion=0.0)
    noisy = simulate(**SMALL, seed=1, dropout_percentile=60.0, count_overdispersion=0.5)
    assert np.mean(noisy.X.toarray() == 0) > np.mean(clean.X.toarray() == 0) + 0.1


def test_key_genes_are_regulators_produced_most_in_their_type(small):
    truth = small.uns[GROUND_TRUTH_KEY]
    production = truth["regulator_production"]
    cell_types = list(production["cell_types"])
    top_type = dict(zip(production["regulator"], np.asarray(cell_types)[
        np.argmax(production["rate"], axis=0)]))
    regulators = set(_edges(small)["regulator"])
    for cell_type, key_genes in truth["key_genes"].items():
        assert len(key_genes) == SIMULATION_DEFAULTS["regulators_per_type"]
        assert set(key_genes) == set(small.var_names[small.var["key_for"] == cell_type])
        for gene in key_genes:
            assert small.var.loc[gene, "is_regulator"] and gene in regulators
            assert top_type[gene] == cell_type


def test_direct_targets_are_the_edge_targets_of_each_types_regulators(small):
    truth = small.uns[GROUND_TRUTH_KEY]
    edges = _edges(small)
    for cell_type, key_genes in truth["key_genes"].items():
        edge_targets = set(edges["target"][np.isin(edges["regulator"], key_genes)])
        assert set(truth["direct_targets"][cell_type]) == edge_targets
        listed = small.var_names[small.var["target_of"].str.split(",").map(
            lambda types, wanted=cell_type: wanted in types)]
        assert set(listed) == edge_targets
    assert set(np.unique(edges["sign"])) <= {-1, 1}
    low_n, high_n = SIMULATION_DEFAULTS["hill_n_range"]
    assert np.all((edges["hill_n"] >= low_n) & (edges["hill_n"] <= high_n))
    assert np.all(edges["K"] > 0)


def test_regulators_and_their_single_parent_targets_follow_the_cell_type(small):
    expression = _log_normalised(small)
    cell_types = small.obs["cell_type"].to_numpy()
    key_for = small.var["key_for"]
    key_higher = [np.subtract(*_mean_in_and_out(expression, cell_types, index, owner)) > 0
                  for index, owner in enumerate(key_for) if owner]
    assert np.mean(key_higher) >= 0.9

    edges = _edges(small)
    targets, in_degree = np.unique(edges["target"], return_counts=True)
    single_parent = np.isin(edges["target"], targets[in_degree == 1])
    from_key = key_for.loc[edges["regulator"]].to_numpy() != ""
    for sign, expected_fraction in ((1, 0.8), (-1, 0.6)):
        chosen = single_parent & from_key & (edges["sign"] == sign)
        follows = [sign * np.subtract(*_mean_in_and_out(
            expression, cell_types, small.var_names.get_loc(target), key_for[regulator])) > 0
            for regulator, target in zip(edges["regulator"][chosen], edges["target"][chosen])]
        assert len(follows) > 0 and np.mean(follows) >= expected_fraction


def test_a_classifier_separates_the_types(small):
    labels = small.obs["cell_type"].cat.codes.to_numpy()
    train_x, test_x, train_y, test_y = train_test_split(
        _log_normalised(small), labels, test_size=0.25, random_state=0, stratify=labels)
    classifier = LogisticRegression(max_iter=1000).fit(train_x, train_y)
    assert classifier.score(test_x, test_y) >= 0.85


def test_key_genes_are_not_simply_the_top_de_genes(small):
    normalised = small.copy()
    sc.pp.normalize_total(normalised, target_sum=1e4)
    sc.pp.log1p(normalised)
    sc.tl.rank_genes_groups(normalised, "cell_type", method="wilcoxon")
    ranked = normalised.uns["rank_genes_groups"]["names"]
    key_genes = small.uns[GROUND_TRUTH_KEY]["key_genes"]
    found = sum(len(set(key) & set(ranked[cell_type][:20])) for cell_type, key in key_genes.items())
    total = sum(len(key) for key in key_genes.values())
    assert 0 < found < total


def test_truth_and_parameters_survive_h5ad_round_trip(small, tmp_path):
    path = tmp_path / "sim.h5ad"
    small.write_h5ad(path)
    loaded = ad.read_h5ad(path)
    truth, loaded_truth = small.uns[GROUND_TRUTH_KEY], loaded.uns[GROUND_TRUTH_KEY]
    for group in ("key_genes", "direct_targets"):
        assert {k: list(v) for k, v in loaded_truth[group].items()} == {
            k: list(v) for k, v in truth[group].items()}
    for name, values in truth["edges"].items():
        np.testing.assert_array_equal(np.asarray(loaded_truth["edges"][name]), values)
    np.testing.assert_array_equal(loaded_truth["regulator_production"]["rate"],
                                  truth["regulator_production"]["rate"])
    assert validate_simulation_params(dict(loaded.uns[SIMULATION_KEY])) == small.uns[SIMULATION_KEY]
    assert loaded.var.equals(small.var)
    assert (loaded.X != small.X).nnz == 0


def test_default_size_matches_the_papers_simulation():
    adata = simulate()
    assert adata.shape == (2700, 1200)
    assert sum(len(genes) for genes in adata.uns[GROUND_TRUTH_KEY]["key_genes"].values()) == 63
    assert adata.obs["cell_type"].nunique() == 9


def test_validation_fills_defaults_and_normalises_types():
    assert validate_simulation_params({}) == SIMULATION_DEFAULTS
    filled = validate_simulation_params({"hill_n_range": (1, 2), "n_cells": np.int64(50)})
    assert filled["hill_n_range"] == [1.0, 2.0] and type(filled["n_cells"]) is int


@pytest.mark.parametrize(("params", "message"), [
    ({"n_cels": 10}, r"unknown simulation parameter 'n_cels': valid ones are n_cells, n_genes"),
    ({"n_genes": 20, "n_cell_types": 4, "regulators_per_type": 7},
     r"n_cell_types \* regulators_per_type \(28\) exceeds n_genes \(20\)"),
    ({"n_genes": 40, "n_cell_types": 4, "regulators_per_type": 7},
     r"first-layer target genes are left for 28 master regulators"),
    ({"n_cells": 0}, r"'n_cells' must be a positive integer, got 0"),
    ({"n_cells": 3}, r"n_cells \(3\) is below n_cell_types \(9\)"),
    ({"n_cell_types": 1}, r"'n_cell_types' must be an integer >= 2"),
    ({"regulators_per_type": True}, r"'regulators_per_type' must be a positive integer"),
    ({"n_genes": 1200.0}, r"'n_genes' must be a positive integer, got 1200.0"),
    ({"hill_n_range": [3.0, 1.0]}, r"'hill_n_range' must be a pair \[low, high\]"),
    ({"key_fold_change_range": [1.0, 4.0]}, r"'key_fold_change_range' must be a pair"),
    ({"housekeeping_fraction": 1.0}, r"'housekeeping_fraction' must be a number in \[0, 1\)"),
    ({"mean_library_size": -5}, r"'mean_library_size' must be a positive number"),
    ({"dropout_percentile": 100}, r"'dropout_percentile' must be a number in \[0, 100\)"),
    ({"count_overdispersion": float("nan")}, r"'count_overdispersion' must be a number >= 0"),
])
def test_validation_rejects_bad_values_in_one_line(params, message):
    with pytest.raises(ScrobinError, match=message) as error:
        validate_simulation_params(params)
    assert "\n" not in str(error.value)


def test_simulate_validates_its_keyword_knobs():
    with pytest.raises(ScrobinError, match="unknown simulation parameter 'dropout'"):
        simulate(**SMALL, dropout=0.5)
