"""split_by: testing on held-out values of an obs column (a donor, batch or phase) instead of a random split."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from conftest import make_counts

from scrobin.config import validate_config
from scrobin.contract import SCROBIN_KEY, SPLIT_KEY
from scrobin.data.model_input import model_input
from scrobin.data.prepare import prepare_dataset, stratified_split
from scrobin.errors import ScrobinError

SPEC = {"source": "x.h5ad", "label_key": "cell_type", "input_state": "auto"}


def one_line_error(call) -> str:
    with pytest.raises(ScrobinError) as caught:
        call()
    assert "\n" not in str(caught.value)
    return str(caught.value)


def with_donors(n_cells: int = 150) -> ad.AnnData:
    """Counts of three types whose cells come from donors 1, 2 and 3 in turn (every type in each)."""
    adata = make_counts(n_cells=n_cells, n_genes=40, seed=4)
    adata.obs["donor"] = pd.Categorical([f"D{i % 3 + 1}" for i in range(adata.n_obs)])
    return adata


def prepare(adata, prepare_params, split_by, **params):
    return prepare_dataset(adata, "d", {**SPEC, "split_by": split_by}, {**prepare_params, **params}, seed=0)


def test_held_out_cells_are_the_test_split_and_validation_is_stratified_in_the_rest():
    labels = pd.Series(np.repeat(["a", "b", "c"], [60, 30, 10]))
    held_out = np.zeros(len(labels), bool)
    held_out[::4] = True
    split = stratified_split(labels, 0.2, 0.1, seed=3, held_out=held_out)
    assert (split == "test").tolist() == held_out.tolist()
    rest = pd.crosstab(labels[~held_out], split[~held_out])
    # validation_fraction of each type's other cells (45, 22 and 7 of them), at least one each.
    assert rest["validation"].tolist() == [4, 2, 1]
    assert np.array_equal(split, stratified_split(labels, 0.2, 0.1, seed=3, held_out=held_out))
    assert not np.array_equal(split, stratified_split(labels, 0.2, 0.1, seed=4, held_out=held_out))


def test_a_held_out_donor_is_tested_and_the_scaling_fitted_without_it(prepare_params):
    adata = with_donors()
    prepared = prepare(adata, prepare_params, {"key": "donor", "test": ["D2"]})
    test = prepared.obs[SPLIT_KEY].to_numpy() == "test"
    assert np.array_equal(test, prepared.obs["donor"].to_numpy() == "D2")
    assert set(prepared.obs.loc[~test, "donor"]) == {"D1", "D3"}
    info = prepared.uns[SCROBIN_KEY]
    assert info["split_by"] == {"key": "donor", "test": ["D2"], "n_test_cells": 50}
    assert info["split_fractions"] == {"test": pytest.approx(50 / 150), "validation": pytest.approx(np.mean(
        prepared.obs[SPLIT_KEY].to_numpy() == "validation"))}
    train = np.flatnonzero(prepared.obs[SPLIT_KEY].to_numpy() == "train")
    assert np.allclose(np.asarray(model_input(prepared, train)).mean(0), 0, atol=1e-4)
    assert not np.allclose(np.asarray(model_input(prepared, np.flatnonzero(test))).mean(0), 0, atol=1e-3)


def test_config_values_match_as_text(prepare_params):
    adata = with_donors()
    adata.obs["batch"] = np.arange(adata.n_obs) % 2
    prepared = prepare(adata, prepare_params, {"key": "batch", "test": [1]})
    assert (prepared.obs[SPLIT_KEY].to_numpy() == "test").sum() == 75
    config = validate_config({"datasets": {"d": {"source": "simulate", "split_by": {"key": "batch", "test": [1, "b2"]}}}})
    assert config["datasets"]["d"]["split_by"] == {"key": "batch", "test": [1, "b2"]}


def test_a_missing_column_or_value_is_refused(prepare_params):
    adata = with_donors()
    assert one_line_error(lambda: prepare(adata, prepare_params, {"key": "patient", "test": ["D2"]})) == (
        "dataset 'd': split_by column 'patient' is not in obs (columns: cell_type, donor): fix datasets.d.split_by.key")
    assert one_line_error(lambda: prepare(adata, prepare_params, {"key": "donor", "test": ["D2", "D9"]})) == (
        "dataset 'd': split_by test values 'D9' do not occur in obs['donor'] (values: D1, D2, D3): "
        "fix datasets.d.split_by.test")
    assert "holds out every cell" in one_line_error(
        lambda: prepare(adata, prepare_params, {"key": "donor", "test": ["D1", "D2", "D3"]}))


def test_a_type_only_the_test_cells_hold_is_refused_or_dropped(prepare_params, caplog):
    adata = with_donors()
    labels = adata.obs["cell_type"].astype(str).to_numpy()
    donors = adata.obs["donor"].to_numpy()
    labels[(labels == "type_2") & (donors == "D2")] = "type_new"
    adata.obs["cell_type"] = labels
    split_by = {"key": "donor", "test": ["D2"]}
    assert one_line_error(lambda: prepare(adata, prepare_params, split_by)) == (
        "dataset 'd': cell types of the split_by test cells never occur in training: 'type_new' (17 test cells): "
        "no model can call them: set prepare.drop_rare_types: true to drop them, or change datasets.d.split_by.test")
    prepared = prepare(adata, prepare_params, split_by, drop_rare_types=True)
    assert "type_new" not in set(prepared.obs["cell_type"]) and prepared.uns[SCROBIN_KEY]["dropped_types"] == ["type_new"]
    assert "dropping cell types" in caplog.text and "type_new" in caplog.text
    assert prepared.uns[SCROBIN_KEY]["split_by"]["n_test_cells"] == 50 - 17


def test_a_type_too_rare_outside_the_test_cells_is_refused(prepare_params):
    adata = with_donors()
    labels = adata.obs["cell_type"].astype(str).to_numpy()
    donors = adata.obs["donor"].to_numpy()
    rare = np.flatnonzero((labels == "type_0") & (donors != "D2"))
    labels[rare[:30]] = "type_1"  # type_0 keeps 3 cells in training
    adata.obs["cell_type"] = labels
    message = one_line_error(lambda: prepare(adata, prepare_params, {"key": "donor", "test": ["D2"]}))
    assert message.startswith("dataset 'd': cell types with fewer than 10 training cells (outside split_by.test): 'type_0' (3)")


def test_checks_run_before_any_job(tmp_path, prepare_params):
    from scrobin.preflight import check_sources

    path = tmp_path / "cells.h5ad"
    with_donors().write_h5ad(path)
    config = validate_config({"datasets": {"d": {"source": str(path), "label_key": "cell_type",
                                                 "split_by": {"key": "donor", "test": ["D7"]}}}})
    assert "split_by test values 'D7' do not occur" in one_line_error(lambda: check_sources(config, tmp_path / "cache"))


def test_pbmc68k_cells_in_s_phase_are_a_shift_every_type_trains_for(prepare_params):
    """The bundled example: hold out the S-phase cells (182 of 700, all ten types) and train on G1
    and G2M, where the rarest type keeps 4 cells (so min_cells_per_type 4)."""
    import scanpy as sc

    adata = sc.datasets.pbmc68k_reduced()
    spec = {"source": "scanpy:pbmc68k_reduced", "label_key": "bulk_labels", "min_cells_per_type": 4,
            "split_by": {"key": "phase", "test": ["S"]}}
    prepared = prepare_dataset(adata, "pbmc68k", spec, {**prepare_params, "min_cells_per_type": 4}, seed=0)
    split = prepared.obs[SPLIT_KEY].to_numpy()
    assert (split == "test").sum() == 182 and set(prepared.obs.loc[split == "test", "phase"]) == {"S"}
    table = pd.crosstab(prepared.obs["cell_type"], split)
    assert (table["test"] > 0).all() and (table["train"] >= 3).all() and (table["validation"] >= 1).all()
    with pytest.raises(ScrobinError, match="fewer than 8 training cells .*'CD34\\+' \\(6\\), 'CD4\\+/CD45RA\\+/CD25- Naive T' \\(4\\)"):
        prepare_dataset(adata, "pbmc68k", {**spec, "min_cells_per_type": 8}, {**prepare_params, "min_cells_per_type": 8}, seed=0)
