"""Bad data is refused in one line, before anything is computed."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from scrobin.contract import SCROBIN_KEY
from scrobin.config import validate_config
from scrobin.errors import ScrobinError
from scrobin.data.prepare import prepare_dataset

from conftest import make_counts

SPEC = {"source": "x.h5ad", "label_key": "cell_type", "input_state": "auto"}


def prepare(adata, prepare_params, **spec):
    return prepare_dataset(adata, "d", {**SPEC, **spec}, prepare_params, seed=0)


def one_line_error(call) -> str:
    with pytest.raises(ScrobinError) as caught:
        call()
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_missing_label_column_lists_existing_columns(counts_adata, prepare_params):
    counts_adata.obs["batch"] = "b1"
    message = one_line_error(lambda: prepare(counts_adata, prepare_params, label_key="celltype"))
    assert "label column 'celltype' is not in obs (columns: cell_type, batch)" in message


def test_type_with_too_few_cells(prepare_params):
    adata = make_counts()
    labels = adata.obs["cell_type"].astype(str).to_numpy()
    labels[:35] = "type_1"  # leave five cells of type_0
    adata.obs["cell_type"] = labels
    message = one_line_error(lambda: prepare(adata, prepare_params))
    assert "fewer than 10 cells: 'type_0' (5)" in message
    assert "drop_rare_types" in message


def test_rare_types_dropped_when_asked(prepare_params):
    adata = make_counts()
    labels = adata.obs["cell_type"].astype(str).to_numpy()
    labels[:35] = "type_1"
    adata.obs["cell_type"] = labels
    prepared = prepare(adata, {**prepare_params, "drop_rare_types": True})
    assert "type_0" not in set(prepared.obs["cell_type"])
    assert prepared.uns[SCROBIN_KEY]["dropped_types"] == ["type_0"]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf(counts_adata, prepare_params, bad):
    counts_adata.X.data[3] = bad
    assert "NaN or infinite" in one_line_error(lambda: prepare(counts_adata, prepare_params))


def test_negative_counts_in_a_counts_layer(counts_adata, prepare_params):
    layer = counts_adata.X.copy()
    layer.data[0] = -2
    counts_adata.layers["counts"] = layer
    message = one_line_error(lambda: prepare(counts_adata, prepare_params, layer="counts"))
    assert "raw counts expected but the matrix has negative values" in message


def test_negative_values_when_counts_declared(counts_adata, prepare_params):
    counts_adata.X.data[0] = -1
    assert "negative values" in one_line_error(lambda: prepare(counts_adata, prepare_params, input_state="counts"))


def test_missing_layer(counts_adata, prepare_params):
    assert "layer 'raw' does not exist" in one_line_error(lambda: prepare(counts_adata, prepare_params, layer="raw"))


@pytest.mark.parametrize("axis", ["obs", "var"])
def test_duplicated_names(counts_adata, prepare_params, axis):
    names = getattr(counts_adata, f"{axis}_names").to_numpy().copy()
    names[1] = names[0]
    setattr(counts_adata, f"{axis}_names", names)
    what = "cell" if axis == "obs" else "gene"
    assert f"duplicated {what} names" in one_line_error(lambda: prepare(counts_adata, prepare_params))


def test_non_numeric_matrix(counts_adata, prepare_params):
    counts_adata.X = counts_adata.X.toarray().astype(str).astype(object)
    assert "not numbers" in one_line_error(lambda: prepare(counts_adata, prepare_params))


def test_float_labels_are_not_cell_types(counts_adata, prepare_params):
    counts_adata.obs["score"] = np.linspace(0, 1, counts_adata.n_obs)
    assert "floating-point numbers" in one_line_error(lambda: prepare(counts_adata, prepare_params, label_key="score"))


def test_missing_labels(counts_adata, prepare_params):
    counts_adata.obs["cell_type"] = counts_adata.obs["cell_type"].astype(object)
    counts_adata.obs.iloc[4, 0] = None
    assert "have no label" in one_line_error(lambda: prepare(counts_adata, prepare_params))


def test_labels_file(tmp_path, counts_adata):
    from scrobin.data.datasets import load_dataset

    path = tmp_path / "cells.h5ad"
    labels = counts_adata.obs["cell_type"].astype(str)
    counts_adata.obs = counts_adata.obs.drop(columns="cell_type")
    counts_adata.write_h5ad(path)
    pd.DataFrame({"cell": labels.index, "label": labels.values}).to_csv(tmp_path / "labels.tsv", sep="\t", index=False)
    spec = validate_config({"datasets": {"d": {"source": str(path), "labels_file": str(tmp_path / "labels.tsv"), "label_key": "label"}}})["datasets"]["d"]
    assert (load_dataset(spec).obs["label"].to_numpy() == labels.to_numpy()).all()
    pd.DataFrame({"cell": labels.index[:10], "label": labels.values[:10]}).to_csv(tmp_path / "labels.tsv", sep="\t", index=False)
    assert "lacks 110 of the 120 cells" in one_line_error(lambda: load_dataset(spec))
    pd.DataFrame({"cell": labels.index, "a": 1, "b": 2}).to_csv(tmp_path / "labels.tsv", sep="\t", index=False)
    assert "has 3 columns" in one_line_error(lambda: load_dataset(spec))


def test_check_sources_caches_a_passed_check(tmp_path, counts_adata):
    from scrobin.preflight import check_sources

    path = tmp_path / "cells.h5ad"
    counts_adata.write_h5ad(path)
    config = validate_config({"datasets": {"d": {"source": str(path), "label_key": "cell_type"}}})
    check_sources(config, tmp_path / "cache")
    assert len(list((tmp_path / "cache").iterdir())) == 1
    bad = counts_adata.copy()
    bad.X = sp.csr_matrix(bad.X.toarray() * np.nan)
    bad.write_h5ad(path)
    with pytest.raises(ScrobinError, match="NaN"):
        check_sources(config, tmp_path / "cache")


def test_keep_genes_missing_from_the_data_are_named_before_any_job(tmp_path, counts_adata):
    from scrobin.preflight import check_sources

    path = tmp_path / "cells.h5ad"
    counts_adata.write_h5ad(path)
    config = validate_config({"datasets": {"d": {"source": str(path), "label_key": "cell_type"}},
                              "prepare": {"keep_genes": ["gene3", "CD8A", "CD4"]}})
    message = one_line_error(lambda: check_sources(config, tmp_path / "cache"))
    assert message == ("dataset 'd': 2 of the 3 keep_genes are not in var_names: CD8A, CD4: "
                       "fix their names or remove them from keep_genes")
    simulated = validate_config({"datasets": {"sim": {"source": "simulate", "simulation": {"n_genes": 120, "n_cell_types": 3, "regulators_per_type": 4}}},
                                 "prepare": {"keep_genes": ["g0119", "g0120"]}})
    assert "1 of the 2 keep_genes is not in var_names: g0120" in one_line_error(
        lambda: check_sources(simulated, tmp_path / "cache"))
    simulated["prepare"]["keep_genes"] = ["g0119"]
    check_sources(simulated, tmp_path / "cache")


def test_hvg_options_the_data_cannot_serve_are_refused(tmp_path, counts_adata, prepare_params, monkeypatch):
    from scrobin.preflight import check_sources
    from scrobin.data.chunked_io import normalize_log1p

    path = tmp_path / "cells.h5ad"
    counts_adata.write_h5ad(path)
    config = validate_config({"datasets": {"d": {"source": str(path), "label_key": "cell_type"}},
                              "prepare": {"use_input_hvg": True}})
    assert "has no var['highly_variable'] column" in one_line_error(lambda: check_sources(config, tmp_path / "cache"))
    lognorm = counts_adata.copy()
    lognorm.X = normalize_log1p(lognorm.X, 1e4)
    lognorm.write_h5ad(path)
    config = validate_config({"datasets": {"d": {"source": str(path), "label_key": "cell_type"}},
                              "prepare": {"hvg_flavor": "pearson_residuals"}})
    assert "hvg_flavor pearson_residuals needs raw counts but the matrix holds lognorm values" in one_line_error(
        lambda: check_sources(config, tmp_path / "cache"))
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "skmisc" else find_spec(name, *a))
    params = {**prepare_params, "hvg_flavor": "seurat_v3"}
    assert "needs the scikit-misc package" in one_line_error(lambda: prepare(counts_adata, params))
