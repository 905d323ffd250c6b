"""Inputs from the field (tests/data/field_cases/, see its README) and a corpus of odd and bad inputs.

Every input either prepares into sane model input or is refused by the checks that run before any
job (``validate_config`` + ``check_sources``) with one ``scrobin:`` line naming the dataset and
the fix, having written nothing.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from conftest import REPO, TEST_CONFIG, make_counts
from scrobin.contract import SCROBIN_KEY, SPLIT_KEY
from scrobin.config import validate_config
from scrobin.data.datasets import load_dataset
from scrobin.enrichment import enrich
from scrobin.enrichment.gmt import annotated_genes, read_gmt
from scrobin.evaluation.ground_truth import recovery_reference, recovery_table
from scrobin.data.checks import missing_label_mask
from scrobin.data.markers import read_markers
from scrobin.enrichment.table import NOT_TESTED
from scrobin.errors import ScrobinError
from scrobin.data.prepare import prepare_dataset
from scrobin.data.chunked_io import normalize_log1p
from scrobin.preflight import check_sources
from scrobin.prepared_layout import lognorm_expression
from scrobin.data.model_input import model_input
from scrobin.tables import GENE_SYMBOL_COLUMN, gene_labels

FIELD = REPO / "tests" / "data" / "field_cases"
GMT = REPO / "scrobin" / "resources" / "genesets" / "human_reactome_wikipathways.gmt"


def config_for(source, enrichment_backend: str | None = None, **spec) -> dict:
    """config/test.yaml's settings with one dataset 'x' (and another enrichment backend if given)."""
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["datasets"] = {"x": {"source": str(source), **spec}}
    if enrichment_backend is not None:
        config["enrichment"]["backend"] = enrichment_backend
    return validate_config(config)


def refusal(tmp_path, source, enrichment_backend: str | None = None, **spec) -> str | None:
    """The one-line message the pre-job checks give (None when they pass); a refusal writes nothing."""
    cache = tmp_path / "checks"
    shutil.rmtree(cache, ignore_errors=True)
    try:
        check_sources(config_for(source, enrichment_backend, **spec), cache)
    except ScrobinError as error:
        message = str(error)
        assert "\n" not in message
        assert message.startswith("dataset 'x': ") or message.startswith("config: datasets.x"), message
        assert not cache.exists()
        return message
    return None


def prepared(source, **spec) -> ad.AnnData:
    config = config_for(source, **spec)
    dataset = config["datasets"]["x"]
    return prepare_dataset(load_dataset(dataset, name="x"), "x", dataset, config["prepare"], config["seed"])


def assert_sane(adata: ad.AnnData) -> None:
    """Model input finite float32, labels text, every type in every split."""
    x = model_input(adata)[np.arange(adata.n_obs)]
    assert x.dtype == np.float32 and np.isfinite(x).all()
    assert all(isinstance(label, str) for label in adata.obs["cell_type"].cat.categories)
    counts = pd.crosstab(adata.obs["cell_type"], adata.obs[SPLIT_KEY])
    assert (counts > 0).all().all()


# --- the seven field cases -------------------------------------------------------------------


def test_leiden_digit_labels_stay_text(tmp_path):
    assert refusal(tmp_path, FIELD / "leiden_digit_labels.h5ad", label_key="leiden") is None
    adata = prepared(FIELD / "leiden_digit_labels.h5ad", label_key="leiden")
    assert_sane(adata)
    assert list(adata.obs["cell_type"].cat.categories) == ["0", "1", "2"]


@pytest.mark.parametrize("case, column", [("entrez_gene_ids", "symbol"), ("ensembl_ids_symbols_in_var", "feature_name")])
def test_identifiers_with_symbols_in_var(tmp_path, case, column):
    source = FIELD / f"{case}.h5ad"
    message = refusal(tmp_path, source, label_key="cell_type")
    assert message.endswith(f"set datasets.x.gene_symbols: {column}")
    assert "none of the 150 gene names in var_names" in message
    assert refusal(tmp_path, source, label_key="cell_type", gene_symbols=column) is None

    adata = prepared(source, label_key="cell_type", gene_symbols=column)
    assert_sane(adata)
    raw = ad.read_h5ad(source)
    assert set(adata.var_names) <= set(raw.var_names)  # the model keys on the identifiers, as text
    assert all(isinstance(gene, str) for gene in adata.var_names)
    assert (adata.var[GENE_SYMBOL_COLUMN] == raw.var.loc[adata.var_names, column].astype(str)).all()

    # Enrichment runs on the symbols; on the identifiers it says that no gene could be tested.
    symbols = gene_labels(adata.var)
    top = {"type": list(symbols.iloc[:15])}
    table, info = enrich(top, list(symbols), backend="gmt", gmt_path=GMT, all_results=True)
    assert sum(info["gmt_sets_tested"].values()) > 0 and (table["note"] == "").all()
    table, info = enrich({"type": list(adata.var_names[:15])}, list(adata.var_names), backend="gmt", gmt_path=GMT)
    assert info["background_annotated"] == 0
    assert len(table) == 1 and table["note"][0].startswith(NOT_TESTED) and "gene_symbols" in table["note"][0]


def test_low_gene_set_overlap_is_noted_and_logged(caplog):
    adata = ad.read_h5ad(FIELD / "ensembl_ids_symbols_in_var.h5ad")
    background = list(adata.var["feature_name"].astype(str)[:20]) + list(adata.var_names[20:])
    with caplog.at_level(logging.WARNING):
        table, info = enrich({"type": background[:15]}, background, backend="gmt", gmt_path=GMT, all_results=True)
    assert info["background_annotated"] == 20
    assert "low gene-set overlap: only 20 of 150 genes" in caplog.text
    assert table["note"].str.startswith("low gene-set overlap").all()


def test_empty_cells_are_dropped_in_quality_control(tmp_path, caplog):
    source = FIELD / "empty_cells.h5ad"
    assert refusal(tmp_path, source, label_key="cell_type") is None
    with caplog.at_level(logging.INFO):
        adata = prepared(source, label_key="cell_type")
    assert "quality control drops 12 of 300 cells" in caplog.text
    assert_sane(adata)
    assert adata.n_obs == 288 and adata.uns[SCROBIN_KEY]["quality_control"]["dropped_cells"] == 12
    counts = ad.read_h5ad(source)[adata.obs_names].X
    assert (np.asarray(counts.sum(axis=1)).ravel() > 0).all()


def test_cell_thresholds_follow_filter_cells(tmp_path):
    source = FIELD / "empty_cells.h5ad"
    counts = ad.read_h5ad(source).X
    totals = np.asarray(counts.sum(axis=1)).ravel()
    threshold = float(np.quantile(totals[totals > 0], 0.1))
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["prepare"]["min_cell_counts"] = threshold
    config["datasets"] = {"x": {"source": str(source), "label_key": "cell_type"}}
    checked = validate_config(config)
    spec = checked["datasets"]["x"]
    adata = prepare_dataset(load_dataset(spec), "x", spec, checked["prepare"], 0)
    kept_genes = adata.uns[SCROBIN_KEY]["transform"]["counted_genes"]
    raw = ad.read_h5ad(source)
    assert (np.asarray(raw[adata.obs_names, kept_genes].X.sum(axis=1)).ravel() >= threshold).all()
    assert adata.n_obs < 288
    config["prepare"]["min_cell_counts"] = float(totals.max()) + 1
    cache = tmp_path / "checks"
    with pytest.raises(ScrobinError, match="no cell passes quality control .*lower them"):
        check_sources(validate_config(config), cache)
    assert not cache.exists()


@pytest.mark.parametrize("case", ["noninteger_counts_layer_shallow", "noninteger_counts_layer_deep"])
def test_a_declared_layer_is_counts(tmp_path, caplog, case):
    source = FIELD / f"{case}.h5ad"
    assert refusal(tmp_path, source, label_key="cell_type", layer="counts") is None
    with caplog.at_level(logging.INFO):
        adata = prepared(source, label_key="cell_type", layer="counts")
    assert "holds non-integer values (e.g. ambient-corrected counts): treated as counts" in caplog.text
    # Why counts: the layer was declared, not detected, and no input_state was set.
    assert "input holds counts values (layer 'counts': counts unless input_state says otherwise)" in caplog.text
    assert_sane(adata)
    transform = adata.uns[SCROBIN_KEY]["transform"]
    assert transform["input_state"] == "counts" and "normalize_total" in transform["steps"]
    layer = ad.read_h5ad(source)[adata.obs_names].layers["counts"]
    expected = normalize_log1p(layer[:, pd.Index(ad.read_h5ad(source).var_names).get_indexer(transform["counted_genes"])], 1e4)
    genes = pd.Index(transform["counted_genes"]).get_indexer(adata.var_names)
    np.testing.assert_allclose(lognorm_expression(adata).toarray(), expected[:, genes].toarray(), rtol=1e-5)


def test_noninteger_values_in_x_are_refused_before_any_job(tmp_path):
    adata = ad.read_h5ad(FIELD / "noninteger_counts_layer_deep.h5ad")
    adata.X = adata.layers.pop("counts")
    adata.write_h5ad(tmp_path / "deep_in_x.h5ad")
    message = refusal(tmp_path, tmp_path / "deep_in_x.h5ad", label_key="cell_type")
    assert "non-integer values up to 503" in message
    assert "set datasets.x.input_state: counts if they are (e.g. ambient-corrected) counts" in message
    assert refusal(tmp_path, tmp_path / "deep_in_x.h5ad", label_key="cell_type", input_state="counts") is None


def test_counts_only_in_raw(tmp_path):
    source = FIELD / "counts_only_in_raw.h5ad"
    message = refusal(tmp_path, source, label_key="cell_type")
    assert message == "dataset 'x': X is empty and the counts are in .raw (150 genes): set datasets.x.use_raw: true to start from .raw.X"
    assert refusal(tmp_path, source, label_key="cell_type", use_raw=True) is None
    adata = prepared(source, label_key="cell_type", use_raw=True)
    assert_sane(adata)
    assert adata.uns[SCROBIN_KEY]["transform"]["input_state"] == "counts"


# --- round 3: missing labels as text, markers in symbols, files that are not what they say ----


def test_nan_text_labels_are_missing_labels(tmp_path, caplog):
    source = FIELD / "nan_text_labels.h5ad"
    assert refusal(tmp_path, source, label_key="cell_type") == (
        "dataset 'x': 40 cells have no label in obs['cell_type'] (40 'nan'): label them, or set "
        "datasets.x.missing_labels: drop to leave them out (keep trains them as a cell type)")
    assert refusal(tmp_path, source, label_key="cell_type", missing_labels="drop") is None
    with caplog.at_level(logging.INFO):
        dropped = prepared(source, label_key="cell_type", missing_labels="drop")
    assert "40 of 300 cells have no label and are left out (missing_labels: drop)" in caplog.text
    assert_sane(dropped)
    assert dropped.n_obs == 260 and set(dropped.obs["cell_type"].cat.categories) == {"B cell", "Monocyte", "T cell"}
    assert dropped.uns[SCROBIN_KEY]["quality_control"]["dropped_unlabelled_cells"] == 40
    kept = prepared(source, label_key="cell_type", missing_labels="keep")
    assert_sane(kept)
    assert kept.n_obs == 300 and "nan" in kept.obs["cell_type"].cat.categories


MARKERS = FIELD / "markers_symbols.tsv"


def symbols_to_ids(adata: ad.AnnData) -> dict[str, str]:
    return dict(zip(adata.var["feature_name"].astype(str), adata.var_names))


def test_markers_in_symbols_are_matched_through_the_symbol_column(tmp_path):
    source = FIELD / "ensembl_with_symbol_markers.h5ad"
    # Without gene_symbols the markers would score 0 everywhere: refused with what they would match.
    # (g:Profiler maps ids itself, so the gene-set check does not speak first.)
    message = refusal(tmp_path, source, label_key="cell_type", markers=str(MARKERS), enrichment_backend="gprofiler")
    assert message == ("dataset 'x': 0 of the 15 markers are in var_names, 15 are in var['feature_name'] (e.g. 'JAK2'): "
                       "set datasets.x.gene_symbols: feature_name")
    spec = {"label_key": "cell_type", "markers": str(MARKERS), "gene_symbols": "feature_name"}
    assert refusal(tmp_path, source, **spec) is None
    adata = prepared(source, **spec)
    assert_sane(adata)
    truth = recovery_reference(adata, MARKERS).key_genes
    ids = symbols_to_ids(ad.read_h5ad(source))
    markers = read_markers(MARKERS)
    assert truth == {t: [ids[g] for g in genes if ids[g] in adata.var_names] for t, genes in markers.items()}
    # A ranking holding the markers first recovers them all, against the 0 reported before.
    for cell_type, key_genes in truth.items():
        order = key_genes + [gene for gene in adata.var_names if gene not in key_genes]
        ranking = pd.DataFrame({"cell_type": cell_type, "gene": order, "rank": np.arange(1, len(order) + 1)})
        row = recovery_table({"m": ranking}, {cell_type: key_genes}, top_n=len(key_genes)).iloc[0]
        assert row["recovered"] == len(key_genes) > 0 and row["p_value"] < 0.05


def test_keep_genes_in_symbols_are_kept_by_their_ids(tmp_path):
    source = FIELD / "ensembl_with_symbol_markers.h5ad"
    spec = {"label_key": "cell_type", "gene_symbols": "feature_name", "keep_genes": ["JAK2", "DAPK2"]}
    assert refusal(tmp_path, source, **spec) is None
    adata = prepared(source, **spec)
    ids = symbols_to_ids(ad.read_h5ad(source))
    assert adata.uns[SCROBIN_KEY]["transform"]["keep_genes"] == sorted([ids["JAK2"], ids["DAPK2"]], key=list(ids.values()).index)
    assert {ids["JAK2"], ids["DAPK2"]} <= set(adata.var_names)
    message = refusal(tmp_path, source, label_key="cell_type", keep_genes=["JAK2"], enrichment_backend="gprofiler")
    assert message.endswith("1 is in var['feature_name'] (e.g. 'JAK2'): set datasets.x.gene_symbols: feature_name")


def mouse_cased(source: Path, folder: Path, markers_case=str.upper) -> tuple[Path, Path]:
    """The CELLxGENE case as mouse data (Jak2) and its markers written by ``markers_case``."""
    adata = ad.read_h5ad(source)
    adata.var_names = adata.var["feature_name"].astype(str).str.capitalize().to_numpy()
    adata.var = adata.var.drop(columns="feature_name")
    mouse = folder / "mouse.h5ad"
    adata.write_h5ad(mouse)
    table = pd.read_csv(MARKERS, sep="\t")
    table["gene"] = table["gene"].map(markers_case)
    markers = folder / "markers.tsv"
    table.to_csv(markers, sep="\t", index=False)
    return mouse, markers


def test_human_case_markers_on_mouse_data_are_matched_ignoring_case(tmp_path):
    mouse, markers = mouse_cased(FIELD / "ensembl_with_symbol_markers.h5ad", tmp_path)
    spec = {"label_key": "cell_type", "markers": str(markers), "organism": "mmusculus"}
    assert refusal(tmp_path, mouse, **spec) is None
    adata = prepared(mouse, **spec)
    truth, _, notes, _ = recovery_reference(adata, markers)
    expected = {t: [g.capitalize() for g in genes if g.capitalize() in adata.var_names]
                for t, genes in read_markers(MARKERS).items()}
    assert truth == expected and sum(map(len, truth.values())) > 0
    # Enrichment compares upper-cased symbols: it matched these names before, recovery now does too.
    gene_sets = read_gmt(GMT)
    assert annotated_genes(list(adata.var_names), gene_sets, {s.source for s in gene_sets})
    # One convention in the list, a few names in the other: told, not silently dropped.
    mixed, mixed_markers = mouse_cased(FIELD / "ensembl_with_symbol_markers.h5ad", tmp_path,
                                       lambda gene: gene.upper() if gene in ("JAK2", "VIM") else gene.capitalize())
    message = refusal(tmp_path, mixed, label_key="cell_type", markers=str(mixed_markers))
    assert message == ("dataset 'x': 13 of the 15 markers are in var_names, 2 more only ignoring case (e.g. 'JAK2' is "
                       "'Jak2'): write them as the data does")


def write_cell_ranger(path: Path, version: int, n_cells: int = 20, n_genes: int = 8) -> np.ndarray:
    """A Cell Ranger filtered_feature_bc_matrix.h5 (v3: a matrix group; v2: a genome group)."""
    import h5py

    counts = np.random.default_rng(0).poisson(1.0, (n_cells, n_genes)).astype(np.int32)
    matrix = sp.csc_matrix(counts.T)  # genes x cells, one column per barcode
    with h5py.File(path, "w") as file:
        group = file.create_group("matrix" if version == 3 else "GRCh38")
        group["barcodes"] = np.array([f"AAAC{i:04d}-1".encode() for i in range(n_cells)])
        for key in ("data", "indices", "indptr"):
            group[key] = getattr(matrix, key)
        group["shape"] = np.array(matrix.shape)
        ids = np.array([f"ENSG{i:011d}".encode() for i in range(n_genes)])
        names = np.array([f"GENE{i}".encode() for i in range(n_genes)])
        if version == 3:
            features = group.create_group("features")
            features["id"], features["name"] = ids, names
            features["feature_type"] = np.array([b"Gene Expression"] * n_genes)
            features["genome"] = np.array([b"GRCh38"] * n_genes)
        else:
            group["genes"], group["gene_names"] = ids, names
    return counts


def test_a_truncated_download_is_named_with_its_size(tmp_path):
    message = refusal(tmp_path, FIELD / "truncated.h5ad", label_key="cell_type")
    assert message == ("dataset 'x': 'truncated.h5ad' is not a readable .h5ad (truncated: 208,742 of 347,904 bytes): "
                       "the download or copy stopped early; download it again")


@pytest.mark.parametrize("userblock, libver", [(0, "earliest"), (512, "earliest"), (1024, "latest")])
def test_truncation_is_read_from_every_superblock_version(tmp_path, userblock, libver):
    """Superblock v0 (h5py's default) and v3, with and without a user block before it."""
    import h5py

    from scrobin.data.h5ad_files import check_h5ad_file

    adata = make_counts()
    source = tmp_path / "cells.h5ad"
    with h5py.File(source, "w", userblock_size=userblock, libver=libver) as file:
        for key in ("X", "obs", "var"):
            ad.io.write_elem(file, key, getattr(adata, key))
    check_h5ad_file(source, "x")
    assert_sane(prepared(source, label_key="cell_type"))
    whole = source.read_bytes()
    cut = tmp_path / "cut.h5ad"
    cut.write_bytes(whole[: len(whole) * 3 // 4])
    with pytest.raises(ScrobinError, match=f"truncated: {len(whole) * 3 // 4:,} of {len(whole):,} bytes"):
        check_h5ad_file(cut, "x")


@pytest.mark.parametrize("kind", ["web_page", "cell_ranger_v3", "cell_ranger_v2", "gzip", "hdf5_garbage", "loom",
                                  "other_hdf5"])
def test_files_that_are_not_h5ad(tmp_path, kind):
    import gzip

    import h5py

    source = tmp_path / "cells.h5ad"
    if kind == "web_page":
        source.write_text("\n<!DOCTYPE html><html><head><title>Sign in</title></head><body>...</body></html>\n")
    elif kind.startswith("cell_ranger"):
        counts = write_cell_ranger(source, int(kind[-1]))
        import scanpy as sc

        # The fix the message gives works on this file.
        read = sc.read_10x_h5(source, **({} if kind.endswith("v3") else {"genome": "GRCh38"}))
        assert (read.X.toarray() == counts).all()
    elif kind == "gzip":
        source.write_bytes(gzip.compress((FIELD / "leiden_digit_labels.h5ad").read_bytes()))
    elif kind == "hdf5_garbage":
        source.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8)
    elif kind == "loom":  # the loom layout (loompy's): genes x cells matrix, row and column attributes
        with h5py.File(source, "w") as file:
            file["matrix"] = np.ones((5, 4), dtype=np.float32)
            file.create_group("row_attrs")["Gene"] = np.array([f"g{i}".encode() for i in range(5)])
            file.create_group("col_attrs")["CellID"] = np.array([f"c{i}".encode() for i in range(4)])
            file.create_group("layers")
    else:
        with h5py.File(source, "w") as file:
            file["values"] = np.zeros(3)
    message = refusal(tmp_path, source, label_key="cell_type")
    assert message.startswith("dataset 'x': 'cells.h5ad' is not a readable .h5ad (")
    expected = {
        "web_page": "it is a web page (HTML)",
        "cell_ranger_v3": "convert it with adata = scanpy.read_10x_h5(path)",
        "cell_ranger_v2": "it is a Cell Ranger HDF5 matrix (.h5)",
        "gzip": "decompress it",
        "hdf5_garbage": "download it again",
        "loom": "it is a loom file): convert it with adata = anndata.read_loom(path)",
        "other_hdf5": "without anndata's obs and var (top level: values)",
    }[kind]
    assert expected in message, message


def test_a_labels_file_listing_a_cell_twice(tmp_path):
    adata = make_counts()
    labels = adata.obs["cell_type"].astype(str)
    adata.obs = adata.obs.drop(columns="cell_type")
    source = tmp_path / "cells.h5ad"
    adata.write_h5ad(source)
    table = pd.DataFrame({"cell": labels.index, "label": labels.to_numpy()})
    path = tmp_path / "labels.tsv"
    pd.concat([table, table.iloc[[3]].assign(label="type_2")]).to_csv(path, sep="\t", index=False)
    message = refusal(tmp_path, source, labels_file=str(path), label_key="label")
    assert message == (f"dataset 'x': labels_file '{path}' lists 1 cell name(s) more than once (e.g. 'cell3'; 1 with "
                       "different labels): deduplicate it, one row per cell")
    table.to_csv(path, sep="\t", index=False)
    assert refusal(tmp_path, source, labels_file=str(path), label_key="label") is None


def test_a_counts_layer_that_is_log_normalised(tmp_path):
    source = FIELD / "counts_layer_is_lognorm.h5ad"
    assert refusal(tmp_path, source, label_key="cell_type", layer="counts") == (
        "dataset 'x': layer 'counts' holds log-normalised values, not counts: every cell sums to 10,000 after expm1 "
        "(as when layers['counts'] = X is set without .copy() before normalize_total and log1p): give the raw counts, "
        "or set datasets.x.input_state: lognorm")
    spec = {"label_key": "cell_type", "layer": "counts", "input_state": "lognorm"}
    assert refusal(tmp_path, source, **spec) is None
    adata = prepared(source, **spec)
    assert_sane(adata)
    assert adata.uns[SCROBIN_KEY]["transform"]["steps"][0] != "normalize_total"
    # Normalised and logged once, not twice: the model's values are the layer's.
    layer = ad.read_h5ad(source)[:, adata.var_names].layers["counts"]
    np.testing.assert_allclose(lognorm_expression(adata).toarray(), layer.toarray(), rtol=1e-6)
    # The same values declared as counts in X are refused too; ambient-corrected counts are not
    # (test_a_declared_layer_is_counts).
    raw = ad.read_h5ad(source)
    raw.X = raw.layers.pop("counts")
    raw.write_h5ad(tmp_path / "x.h5ad")
    assert "X holds log-normalised values, not counts" in refusal(tmp_path, tmp_path / "x.h5ad", label_key="cell_type",
                                                                  input_state="counts")


# --- a corpus of odd and bad inputs ----------------------------------------------------------


def _labels(values):
    def change(adata):
        adata.obs["cell_type"] = np.resize(np.asarray(values), adata.n_obs)
        return adata

    return change


def _zero_rows(rows):
    def change(adata):
        dense = adata.X.toarray()
        dense[rows] = 0
        adata.X = sp.csr_matrix(dense)
        return adata

    return change


def _counts_only_in_rare_genes(adata):
    dense = adata.X.toarray()
    dense[5, :] = 0
    dense[:, -1] = 0
    dense[5, -1] = 1  # its only count is in a gene below min_gene_counts: empty after gene filtering
    adata.X = sp.csr_matrix(dense)
    return adata


def _x(transform):
    def change(adata):
        adata.X = transform(adata.X.toarray())
        return adata

    return change


def _no_x(with_raw):
    def change(adata):
        if with_raw:
            adata.raw = adata
        return ad.AnnData(X=None, obs=adata.obs, var=adata.var, raw=adata.raw if with_raw else None)

    return change


def _layer(transform):
    def change(adata):
        adata.layers["counts"] = sp.csr_matrix(transform(adata.X.toarray()))
        return adata

    return change


def _rename_gene(adata):
    names = adata.var_names.to_numpy().copy()
    names[1] = names[0]
    adata.var_names = names
    return adata


def _type_of_n(n):
    return _labels(["type_0"] * n + ["type_1"] * 59 + ["type_2"] * (61 - n))


def _empty_type(adata):
    adata.obs["cell_type"] = np.where(np.arange(adata.n_obs) < 110, "big", "empty")
    return _zero_rows(slice(110, None))(adata)


def _noncanonical_csr(adata):
    """Each count split over two entries, columns descending within a row: a CSR matrix that is
    not in canonical format (as some converters write), which every reader must sum."""
    coo = adata.X.tocoo()
    rows, cols = np.repeat(coo.row, 2), np.repeat(coo.col, 2)
    half = coo.data // 2
    data = np.column_stack([half, coo.data - half]).ravel()
    order = np.lexsort((-cols, rows))
    matrix = sp.csr_matrix((data[order], cols[order], np.searchsorted(rows[order], np.arange(adata.n_obs + 1))),
                           shape=coo.shape)
    assert not matrix.has_canonical_format and (matrix.toarray() == adata.X.toarray()).all()
    adata.X = matrix
    return adata


def _nan_labels(adata):
    labels = adata.obs["cell_type"].astype(object).to_numpy()
    labels[::7] = np.nan
    adata.obs["cell_type"] = pd.Categorical(labels)
    return adata


def _half(adata):
    adata.X = adata.X * 0.5
    return adata


CORPUS = [
    # (id, change to make_counts(), spec keys, expected part of the refusal or None for success)
    ("integer_labels", _labels([0, 1, 2]), {}, None),
    ("boolean_labels", _labels([True, False]), {}, None),
    ("na_like_labels", _labels(["NA", "None", "nan"]), {}, "set datasets.x.missing_labels: drop"),
    ("na_like_labels_kept", _labels(["NA", "None", "nan"]), {"missing_labels": "keep"}, None),
    ("digit_gene_names", lambda a: setattr(a, "var_names", [str(1000 + i) for i in range(a.n_vars)]) or a, {}, None),
    ("empty_cells", _zero_rows([0, 50, 100]), {}, None),
    ("counts_only_in_filtered_genes", _counts_only_in_rare_genes, {}, None),
    ("noninteger_counts_layer", _layer(lambda x: x * 0.37), {"layer": "counts"}, None),
    ("lognorm_layer_declared", _layer(lambda x: np.log1p(x)), {"layer": "counts", "input_state": "lognorm"}, None),
    ("noninteger_x", _x(lambda x: x * 37.3), {}, "set datasets.x.input_state: counts"),
    ("x_none_counts_in_raw", _no_x(True), {}, "set datasets.x.use_raw: true"),
    ("x_none_no_raw", _no_x(False), {}, "name a layer in datasets.x.layer"),
    ("use_raw_without_raw", lambda a: a, {"use_raw": True}, "remove datasets.x.use_raw"),
    ("use_raw_and_layer", _layer(lambda x: x), {"use_raw": True, "layer": "counts"}, "sets both use_raw and layer"),
    ("missing_symbol_column", lambda a: a, {"gene_symbols": "feature_name"}, "fix datasets.x.gene_symbols"),
    ("missing_label_column", lambda a: a, {"label_key": "leiden"}, "set datasets.x.label_key"),
    ("missing_layer", lambda a: a, {"layer": "counts"}, "fix datasets.x.layer"),
    ("negative_counts_layer", _layer(lambda x: x - 1), {"layer": "counts"}, "(datasets.x.layer)"),
    ("nan_values", _x(lambda x: np.where(x > 8, np.nan, x)), {}, "NaN or infinite values"),
    ("duplicated_genes", _rename_gene, {}, "adata.var_names_make_unique()"),
    ("float_labels", _labels([0.5, 1.5]), {}, "point label_key at a categorical"),
    ("rare_type", _type_of_n(4), {}, "set prepare.drop_rare_types: true, lower min_cells_per_type"),
    ("type_smaller_than_the_splits", _type_of_n(2), {"min_cells_per_type": 2}, "set prepare.validation_fraction: 0"),
    ("type_emptied_by_quality_control", _empty_type, {}, "a classifier needs two or more"),
    ("all_cells_empty", _x(lambda x: x * 0), {}, "X is empty and there is no .raw"),
    ("halved_counts", _half, {}, None),
    ("float16_counts", _x(lambda x: x.astype(np.float16)), {}, None),
    ("noncanonical_csr", _noncanonical_csr, {}, None),
    ("empty_and_blank_labels", _labels(["a", "b", "c", "", "  "]), {}, "48 cells have no label in obs['cell_type'] (24 '', 24 '  ')"),
    ("na_spellings_dropped", _labels(["a", "b", "c", "<NA>", "None"]), {"missing_labels": "drop"}, None),
    ("nan_labels_dropped", _nan_labels, {"missing_labels": "drop"}, None),
    ("labels_differing_by_case", _labels(["B cell", "B Cell", "T cell"]), {},
     "spells 1 cell type(s) in several ways: 'B cell' / 'B Cell' (40 / 40 cells)"),
    ("labels_differing_by_spaces", _labels(["T cell", "T cell ", " T  cell", "B cell"]), {}, "'T cell' / 'T cell ' / ' T  cell'"),
    ("lognorm_counts_layer", _layer(lambda x: normalize_log1p(sp.csr_matrix(x), 1e4).toarray()), {"layer": "counts"},
     "set datasets.x.input_state: lognorm"),
]


# Cells quality control drops in the corpus's successes (every other success drops none).
DROPPED_CELLS = {"empty_cells": 3, "counts_only_in_filtered_genes": 1}


@pytest.mark.parametrize("key, value", [("use_raw", True), ("gene_symbols", "symbol")])
def test_simulations_take_no_file_options(key, value):
    with pytest.raises(ScrobinError, match=f"config: datasets.x.{key} is for .h5ad and bundled sources"):
        validate_config({"datasets": {"x": {"source": "simulate", key: value}}})


@pytest.mark.parametrize("case, change, spec, expected", CORPUS, ids=[case[0] for case in CORPUS])
def test_corpus(tmp_path, case, change, spec, expected):
    adata = change(make_counts())
    source = tmp_path / "odd.h5ad"
    adata.write_h5ad(source)
    spec = {"label_key": "cell_type", **spec}
    try:
        message = refusal(tmp_path, source, **spec)
    except ScrobinError as error:  # validate_config's refusals come before check_sources
        message = str(error)
        assert message.startswith("config: datasets.x") and "\n" not in message
    if expected is not None:
        assert message is not None and expected in message, message
        if "validation_fraction" in expected:
            assert "min_cells_per_type" not in message
        return
    assert message is None, message
    result = prepared(source, **spec)
    assert_sane(result)
    labels = pd.Series(adata.obs["cell_type"])
    if spec.get("missing_labels") == "drop":
        labels = labels[~missing_label_mask(labels)]
        assert result.uns[SCROBIN_KEY]["quality_control"]["dropped_unlabelled_cells"] == adata.n_obs - len(labels) > 0
    assert set(result.obs["cell_type"].cat.categories) == set(labels.astype(str))
    assert result.uns[SCROBIN_KEY]["quality_control"]["dropped_cells"] == DROPPED_CELLS.get(case, 0)
