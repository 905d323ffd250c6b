"""Preprocessing: input-state detection, gene selection, split and transform replay."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import make_counts

from scrobin.contract import SCROBIN_KEY, SPLIT_KEY
from scrobin.errors import ScrobinError
from scrobin.data.prepare import prepare_dataset, stratified_split
from scrobin.data.chunked_io import normalize_log1p
from scrobin.data.preprocess import apply_transform, detect_input_state
from scrobin.prepared_layout import lognorm_expression
from scrobin.data.model_input import model_input

SPEC = {"source": "x.h5ad", "label_key": "cell_type", "input_state": "auto"}


def test_detects_counts_lognorm_and_scaled(counts_adata):
    counts = counts_adata.X
    lognorm = normalize_log1p(counts, 1e4)
    dense = lognorm.toarray()
    scaled = (dense - dense.mean(0)) / dense.std(0)
    assert detect_input_state(counts) == "counts"
    assert detect_input_state(lognorm) == "lognorm"
    assert detect_input_state(scaled) == "scaled"
    with pytest.raises(ScrobinError, match="set input_state: counts if"):
        detect_input_state(counts.toarray() * 1000.5)


def test_counts_run_every_step_and_keep_the_requested_number_of_genes(counts_adata, prepare_params):
    prepared = prepare_dataset(counts_adata, "d", SPEC, {**prepare_params, "n_top_genes": 15, "min_gene_counts": 1}, seed=0)
    transform = prepared.uns[SCROBIN_KEY]["transform"]
    assert transform["steps"] == ["filter_genes", "normalize_total", "log1p", "highly_variable_genes", "scale"]
    assert prepared.n_vars == 15
    # X stays sparse log-normalised; the scaling is applied to the rows read (model_input).
    assert sp.isspmatrix_csr(prepared.X) and prepared.X.dtype == np.float32
    assert prepared.uns[SCROBIN_KEY]["x_scaled"] is False and "lognorm" not in prepared.layers
    assert lognorm_expression(prepared) is prepared.X
    train = prepared.obs[SPLIT_KEY].to_numpy() == "train"
    x_train = model_input(prepared)[np.flatnonzero(train)]
    assert x_train.dtype == np.float32
    assert np.allclose(x_train.mean(0), 0, atol=1e-4)
    assert np.allclose(x_train.std(0, ddof=1), 1, atol=1e-3)


def test_gene_filter_uses_min_counts(counts_adata, prepare_params):
    counts_adata.X[:, 0] = 0
    counts_adata.X.eliminate_zeros()
    prepared = prepare_dataset(counts_adata, "d", SPEC, prepare_params, seed=0)
    assert "gene0" not in prepared.var_names
    assert prepared.n_vars == counts_adata.n_vars - 1


def test_lognorm_input_skips_normalisation(counts_adata, prepare_params):
    counts_adata.X = normalize_log1p(counts_adata.X, 1e4)
    prepared = prepare_dataset(counts_adata, "d", SPEC, prepare_params, seed=0)
    assert prepared.uns[SCROBIN_KEY]["transform"]["steps"] == ["highly_variable_genes", "scale"]


def test_scaled_input_is_used_as_is(counts_adata, prepare_params):
    dense = normalize_log1p(counts_adata.X, 1e4).toarray()
    counts_adata.X = ((dense - dense.mean(0)) / dense.std(0)).astype(np.float32)
    prepared = prepare_dataset(counts_adata, "d", SPEC, prepare_params, seed=0)
    assert prepared.uns[SCROBIN_KEY]["transform"]["steps"] == ["top_variance_genes"]
    assert np.array_equal(prepared.X, counts_adata.X)


def test_config_overrides_detection(counts_adata, prepare_params):
    prepared = prepare_dataset(counts_adata, "d", {**SPEC, "input_state": "lognorm"}, prepare_params, seed=0)
    assert "normalize_total" not in prepared.uns[SCROBIN_KEY]["transform"]["steps"]


def test_unscaled_output_stays_sparse(counts_adata, prepare_params):
    prepared = prepare_dataset(counts_adata, "d", SPEC, {**prepare_params, "scale": False}, seed=0)
    assert sp.issparse(prepared.X) and prepared.X.dtype == np.float32


def test_split_is_stratified_and_deterministic():
    labels = pd.Series(np.repeat(["a", "b", "c"], [100, 50, 10]))
    first = stratified_split(labels, 0.2, 0.1, seed=3)
    assert np.array_equal(first, stratified_split(labels, 0.2, 0.1, seed=3))
    assert not np.array_equal(first, stratified_split(labels, 0.2, 0.1, seed=4))
    table = pd.crosstab(labels, first)
    assert table.loc["a", "test"] == 20 and table.loc["b", "test"] == 10 and table.loc["c", "test"] == 2
    assert table.loc["a", "validation"] == 10 and table.loc["c", "validation"] == 1
    assert (table > 0).all().all()


def test_transform_replay_on_new_cells_equals_stored_x(prepare_params):
    adata = make_counts(n_cells=150, n_genes=60, seed=2)
    prepared = prepare_dataset(adata, "d", SPEC, {**prepare_params, "n_top_genes": 20}, seed=0)
    transform = prepared.uns[SCROBIN_KEY]["transform"]
    shuffled = adata[::-1, ::-1]  # other cell and gene order: matched by name
    replayed = apply_transform(shuffled.X, shuffled.var_names, transform)
    order = pd.Index(shuffled.obs_names).get_indexer(prepared.obs_names)
    assert np.array_equal(replayed[order], np.asarray(model_input(prepared)))
    with pytest.raises(ScrobinError, match="lack 1 of the"):
        apply_transform(adata.X[:, 1:], adata.var_names[1:], transform)


def test_transform_survives_h5ad_round_trip(tmp_path, prepare_params):
    import anndata as ad

    adata = make_counts(seed=5)
    prepared = prepare_dataset(adata, "d", SPEC, prepare_params, seed=0)
    prepared.write_h5ad(tmp_path / "p.h5ad")
    transform = ad.read_h5ad(tmp_path / "p.h5ad").uns[SCROBIN_KEY]["transform"]
    assert np.array_equal(apply_transform(adata.X, adata.var_names, transform), np.asarray(model_input(prepared)))


def _with_rare_marker(seed: int = 3):
    """Counts whose gene39 is a marker of type_0 with only a few counts: the count filter and a
    small HVG selection drop it."""
    adata = make_counts(n_cells=120, n_genes=40, seed=seed)
    dense = adata.X.toarray()
    dense[:, 39] = 0
    dense[:4, 39] = 1  # four type_0 cells
    adata.X = sp.csr_matrix(dense)
    return adata


def test_keep_genes_survive_the_count_filter_and_the_hvg_selection(prepare_params):
    adata = _with_rare_marker()
    params = {**prepare_params, "n_top_genes": 10, "min_gene_counts": 5}
    assert "gene39" not in prepare_dataset(adata, "d", SPEC, params, seed=0).var_names
    prepared = prepare_dataset(adata, "d", SPEC, {**params, "keep_genes": ["gene39", "gene20"]}, seed=0)
    transform = prepared.uns[SCROBIN_KEY]["transform"]
    assert {"gene39", "gene20"} <= set(prepared.var_names)
    assert prepared.n_vars in (11, 12)  # 10 HVGs plus the kept genes not among them
    assert transform["keep_genes"] == ["gene20", "gene39"]
    assert np.array_equal(apply_transform(adata.X, adata.var_names, transform), np.asarray(model_input(prepared)))
    # A dataset's own list overrides the prepare section's.
    override = prepare_dataset(adata, "d", {**SPEC, "keep_genes": ["gene39"]}, params, seed=0)
    assert "gene39" in override.var_names


def test_input_hvg_flags_choose_the_genes(prepare_params):
    adata = make_counts(seed=4)
    flagged = np.zeros(adata.n_vars, dtype=bool)
    flagged[[1, 5, 7, 30]] = True
    adata.var["highly_variable"] = flagged
    params = {**prepare_params, "use_input_hvg": True, "min_gene_counts": 1, "keep_genes": ["gene2"]}
    prepared = prepare_dataset(adata, "d", SPEC, params, seed=0)
    assert list(prepared.var_names) == ["gene1", "gene2", "gene5", "gene7", "gene30"]
    assert "input_highly_variable" in prepared.uns[SCROBIN_KEY]["transform"]["steps"]


@pytest.mark.parametrize("flavor", ["pearson_residuals", "seurat_v3"])
def test_count_flavours_select_from_raw_counts(prepare_params, flavor):
    if flavor == "seurat_v3":
        pytest.importorskip("skmisc", reason="seurat_v3 needs scikit-misc (a dependency in pyproject.toml)")
    adata = make_counts(n_cells=120, n_genes=60, seed=6)
    params = {**prepare_params, "hvg_flavor": flavor, "n_top_genes": 20, "min_gene_counts": 1}
    prepared = prepare_dataset(adata, "d", SPEC, params, seed=0)
    assert prepared.n_vars == 20
    assert prepared.uns[SCROBIN_KEY]["transform"]["hvg_flavor"] == flavor
    # The three blocks of 20 type-specific genes vary most; count models find them.
    assert set(prepared.var_names) <= {f"gene{j}" for j in range(60)}
    import scanpy as sc

    reference = adata.copy()
    if flavor == "seurat_v3":
        sc.pp.highly_variable_genes(reference, n_top_genes=20, flavor="seurat_v3")
    else:
        sc.experimental.pp.highly_variable_genes(reference, n_top_genes=20, flavor=flavor)
    assert set(prepared.var_names) == set(reference.var_names[reference.var["highly_variable"]])
