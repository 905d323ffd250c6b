"""What is known before any job is checked before any job: the model's gene count (and the
KernelSHAP budget against it), log-normalised values for the DE baseline, markers the model will
not see."""

from __future__ import annotations

import shutil
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from conftest import REPO, TEST_CONFIG, make_counts

from scrobin.config import validate_config
from scrobin.data.chunked_io import normalize_log1p
from scrobin.data.datasets import load_dataset
from scrobin.data.prepare import prepare_dataset
from scrobin.errors import ScrobinError
from scrobin.preflight import check_sources

SHIPPED_MARKERS = REPO / "scrobin" / "resources" / "markers" / "pbmc68k_bulk_labels.tsv"


def config_of(tmp_path: Path, adata: ad.AnnData | None, prepare: dict | None = None, kernelshap=400, **spec) -> dict:
    """config/test.yaml's settings with one dataset 'd' (``adata`` written to the temporary folder)."""
    config = yaml.safe_load(TEST_CONFIG.read_text())
    if adata is not None:
        adata.write_h5ad(tmp_path / "cells.h5ad")
        spec = {"source": str(tmp_path / "cells.h5ad"), "label_key": "cell_type", **spec}
    config["datasets"] = {"d": spec}
    config["prepare"].update(prepare or {})
    config["attribution"]["methods"]["kernelshap"] = {"n_samples": kernelshap}
    return validate_config(config)


def checked(tmp_path: Path, config: dict, fresh: bool = True) -> dict:
    cache = tmp_path / "cache"
    if fresh:
        shutil.rmtree(cache, ignore_errors=True)
    return check_sources(config, cache)


def refused(tmp_path: Path, config: dict) -> str:
    """The one-line refusal of the pre-job checks, having written nothing."""
    cache = tmp_path / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    with pytest.raises(ScrobinError) as caught:
        check_sources(config, cache)
    assert "\n" not in str(caught.value) and not cache.exists()
    return str(caught.value)


def prepared_genes(config: dict) -> pd.Index:
    spec = config["datasets"]["d"]
    return prepare_dataset(load_dataset(spec, name="d"), "d", spec, config["prepare"], config["seed"]).var_names


def five_silent_genes() -> ad.AnnData:
    """make_counts' 40 genes with the last five never expressed (gone after gene filtering)."""
    adata = make_counts()
    dense = adata.X.toarray()
    dense[:, 35:] = 0
    adata.X = sp.csr_matrix(dense)
    return adata


def scaled(adata: ad.AnnData, keep_raw: bool) -> ad.AnnData:
    lognorm = normalize_log1p(adata.X, 1e4).toarray()
    std = lognorm.std(axis=0)
    values = (lognorm - lognorm.mean(axis=0)) / np.where(std > 0, std, 1)
    result = ad.AnnData(values.astype(np.float32), obs=adata.obs, var=adata.var)
    if keep_raw:
        result.raw = ad.AnnData(sp.csr_matrix(lognorm), obs=adata.obs, var=adata.var)
    return result


def flagged(adata: ad.AnnData, n_flagged: int) -> ad.AnnData:
    adata.var["highly_variable"] = np.arange(adata.n_vars) < n_flagged
    return adata


@pytest.mark.parametrize("make, prepare, spec, expected", [
    (five_silent_genes, {}, {}, 35),  # min(n_top_genes 100, 35 genes after filtering)
    (five_silent_genes, {"n_top_genes": 20}, {}, 20),
    # keep_genes outside the selection (silent genes pass the filter only as keep_genes) add to it.
    (five_silent_genes, {"n_top_genes": 20}, {"keep_genes": ["gene36", "gene37"]}, 22),
    (lambda: flagged(five_silent_genes(), 7), {"use_input_hvg": True}, {"keep_genes": ["gene36"]}, 8),
    (lambda: scaled(make_counts(), keep_raw=True), {"n_top_genes": 25}, {}, 25),
    (lambda: scaled(make_counts(), keep_raw=True), {}, {}, 40),
], ids=["filtered", "n_top_genes", "keep_genes", "use_input_hvg", "scaled", "scaled_all"])
def test_the_model_gene_count_is_known_before_any_job(tmp_path, make, prepare, spec, expected):
    config = config_of(tmp_path, make(), prepare, **spec)
    assert checked(tmp_path, config)["d"]["model_genes"] == expected == len(prepared_genes(config))


def test_a_kernelshap_budget_below_the_model_genes_is_refused_before_any_job(tmp_path):
    adata = make_counts(n_genes=520)
    message = refused(tmp_path, config_of(tmp_path, adata, {"n_top_genes": 600}))
    assert message == (
        "dataset 'd': attribution.methods.kernelshap.n_samples is 400 but the model has 520 genes and kernelshap needs "
        "at least 520 samples (one per gene): set n_samples: null for the converged default, or 520 or more")
    assert checked(tmp_path, config_of(tmp_path, adata, {"n_top_genes": 600}, kernelshap=None))["d"]["model_genes"] == 520
    # The budget is checked on every run, also when the dataset's facts come from the cache.
    assert checked(tmp_path, config_of(tmp_path, adata, {"n_top_genes": 600}, kernelshap=520), fresh=False)
    with pytest.raises(ScrobinError, match="n_samples is 519 but the model has 520 genes"):
        checked(tmp_path, config_of(tmp_path, adata, {"n_top_genes": 600}, kernelshap=519), fresh=False)
    # Test settings select 100 genes: 400 coalitions are plenty.
    assert checked(tmp_path, config_of(tmp_path, adata))["d"]["model_genes"] == 100


def test_simulations_are_counted_too(tmp_path):
    simulation = {"n_cells": 120, "n_genes": 60, "n_cell_types": 3, "regulators_per_type": 2}
    config = config_of(tmp_path, None, {"n_top_genes": 500}, kernelshap=30, source="simulate", simulation=simulation)
    assert "kernelshap needs at least" in refused(tmp_path, config)


def test_scaled_input_without_log_normalised_values_is_refused_before_any_job(tmp_path):
    message = refused(tmp_path, config_of(tmp_path, scaled(make_counts(), keep_raw=False)))
    assert message == (
        "dataset 'd': the input holds scaled values and no .raw, so there are no log-normalised values for the DE "
        "baseline (rule de_baseline): start from counts or log-normalised values (datasets.d.layer, "
        "datasets.d.use_raw, or the data saved before sc.pp.scale)")
    assert checked(tmp_path, config_of(tmp_path, scaled(make_counts(), keep_raw=True)))["d"]["model_genes"] == 40


def write_markers(path: Path, markers: dict[str, list[str]]) -> Path:
    rows = [(cell_type, gene) for cell_type, genes in markers.items() for gene in genes]
    pd.DataFrame(rows, columns=["cell_type", "gene"]).to_csv(path, sep="\t", index=False)
    return path


def test_markers_outside_the_selected_genes_are_named_on_the_console(tmp_path, capsys):
    markers = {"type_0": ["gene0", "gene13"], "type_1": ["gene14", "gene39"], "type_2": ["gene38", "ABSENT1"]}
    path = write_markers(tmp_path / "markers.tsv", markers)
    config = config_of(tmp_path, make_counts(), {"n_top_genes": 12}, markers=str(path))
    facts = checked(tmp_path, config)["d"]
    selected = prepared_genes(config)
    outside = [gene for genes in markers.values() for gene in genes if gene in make_counts().var_names and gene not in selected]
    assert outside, "gene39 is expressed in no type's block: never among the 12 most variable genes"
    line = (f"dataset 'd': {len(outside)} of 6 markers {'is' if len(outside) == 1 else 'are'} not among the 12 selected "
            f"genes: {', '.join(outside)}; keep them with keep_genes or use_input_hvg; 1 of 6 markers is not in the data "
            "at all: ABSENT1")
    assert facts["warnings"] == [line]
    assert capsys.readouterr().err == f"scrobin: warning: {line}\n"
    # Never added to the model behind the user's back (that would feed the truth into the test).
    assert not set(outside) & set(selected)
    # A cached check says it again on the next run.
    checked(tmp_path, config, fresh=False)
    assert capsys.readouterr().err == f"scrobin: warning: {line}\n"
    # Kept on request, only the absent one is left.
    kept = config_of(tmp_path, make_counts(), {"n_top_genes": 12}, markers=str(path), keep_genes=outside)
    assert checked(tmp_path, kept)["d"]["warnings"] == [
        "dataset 'd': 1 of 6 markers is not in the data at all: ABSENT1"]


def test_markers_the_model_sees_give_no_warning(tmp_path, capsys):
    path = write_markers(tmp_path / "markers.tsv", {"type_0": ["gene0"], "type_1": ["gene14"]})
    assert checked(tmp_path, config_of(tmp_path, make_counts(), markers=str(path)))["d"]["warnings"] == []
    assert capsys.readouterr().err == ""


def test_pbmc68k_markers_outside_its_genes_are_named(tmp_path, capsys):
    pbmc = load_dataset({"source": "scanpy:pbmc68k_reduced"})
    shipped = pd.read_csv(SHIPPED_MARKERS, sep="\t", dtype=str)["gene"]
    absent = [gene for gene in dict.fromkeys(shipped) if gene not in pbmc.var_names]
    assert {"CD14", "CD19", "FOXP3"} <= set(absent)
    config = config_of(tmp_path, None, {"drop_rare_types": True}, source="scanpy:pbmc68k_reduced",
                       markers=str(SHIPPED_MARKERS))
    (line,) = checked(tmp_path, config)["d"]["warnings"]
    assert line.endswith(f"{len(absent)} of {shipped.nunique()} markers are not in the data at all: "
                         + ", ".join(absent[:10]) + (f" and {len(absent) - 10} more" if len(absent) > 10 else ""))
    assert "not among the 100 selected genes" in line and capsys.readouterr().err.count("\n") == 1


def test_markers_of_types_all_dropped_as_rare_are_refused(tmp_path):
    adata = make_counts()
    labels = adata.obs["cell_type"].astype(str).to_numpy()
    labels[:36] = "type_1"  # four cells of type_0 are left
    adata.obs["cell_type"] = labels
    path = write_markers(tmp_path / "markers.tsv", {"type_0": ["gene0"]})
    message = refused(tmp_path, config_of(tmp_path, adata, {"drop_rare_types": True}, markers=str(path)))
    assert message.startswith("dataset 'd': every cell type of the markers file is dropped as rare ('type_0')")
