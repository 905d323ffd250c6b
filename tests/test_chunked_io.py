"""Block-wise statistics and the backed prepare path agree with scanpy and the in-memory path."""

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import make_counts

from scrobin.data import chunked_io
from scrobin.data.chunked_io import (
    gene_totals,
    highly_variable_from_moments,
    hvg_moments,
    normalize_log1p,
    row_blocks,
)
from scrobin.data.datasets import load_dataset
from scrobin.errors import ScrobinError
from scrobin.data.prepare import prepare_dataset
from scrobin.data.preprocess import (
    apply_transform,
    cells_passing_qc,
    select_highly_variable,
)
from scrobin.data.model_input import model_input

SPEC = {"label_key": "cell_type", "input_state": "auto"}


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 37 cells, so every statistic spans several blocks and a ragged last one."""
    monkeypatch.setattr(chunked_io, "CHUNK_CELLS", 37)


def _counts_file(tmp_path, n_cells=300, n_genes=80, seed=0):
    adata = make_counts(n_cells=n_cells, n_genes=n_genes, seed=seed)
    # Some empty cells and a rarely counted gene, so quality control and the gene filter act.
    dense = adata.X.toarray()
    dense[[5, 77, 150]] = 0
    dense[:, 3] = 0
    dense[:2, 3] = 1
    adata.X = sp.csr_matrix(dense)
    path = tmp_path / "counts.h5ad"
    adata.write_h5ad(path)
    return path


@pytest.mark.parametrize("flavor", ["seurat", "cell_ranger"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hvg_from_block_moments_equals_scanpy(small_blocks, flavor, seed):
    adata = make_counts(n_cells=600, n_genes=300, seed=seed)
    expected = select_highly_variable(normalize_log1p(adata.X, 1e4), adata.var_names, 40, flavor)
    mean, variance = hvg_moments(adata.X, np.arange(adata.n_obs), np.arange(adata.n_vars), 1e4, flavor)
    np.testing.assert_array_equal(highly_variable_from_moments(mean, variance, 40, flavor), expected)


def test_row_blocks_visit_the_requested_rows_in_order(small_blocks):
    matrix = sp.random(200, 5, density=0.3, format="csr", random_state=0)
    rows = np.sort(np.random.default_rng(0).choice(200, 90, replace=False))
    positions, blocks = zip(*row_blocks(matrix, rows))
    np.testing.assert_array_equal(np.concatenate(positions), rows)
    np.testing.assert_array_equal(sp.vstack(blocks).toarray(), matrix[rows].toarray())
    np.testing.assert_allclose(gene_totals(matrix, rows), np.asarray(matrix[rows].sum(axis=0)).ravel())


def test_backed_statistics_equal_in_memory(tmp_path, small_blocks, prepare_params):
    path = _counts_file(tmp_path)
    backed, loaded = ad.read_h5ad(path, backed="r"), ad.read_h5ad(path)
    assert not chunked_io.in_memory(backed.X)
    np.testing.assert_array_equal(gene_totals(backed.X), np.asarray(loaded.X.sum(axis=0)).ravel())
    params = {**prepare_params, "min_gene_counts": 5}
    qc = cells_passing_qc(backed.X, "counts", params)
    np.testing.assert_array_equal(qc, cells_passing_qc(loaded.X, "counts", params))
    assert not qc[[5, 77, 150]].any() and qc.sum() == 297


@pytest.mark.parametrize("flavor", ["seurat", "cell_ranger"])
def test_backed_prepare_equals_in_memory_prepare(tmp_path, small_blocks, prepare_params, flavor):
    path = _counts_file(tmp_path)
    spec = {**SPEC, "source": str(path)}
    params = {**prepare_params, "n_top_genes": 25, "min_gene_counts": 5, "hvg_flavor": flavor}
    in_memory = prepare_dataset(load_dataset(spec, backed=False), "d", spec, params, seed=0)
    backed = prepare_dataset(load_dataset(spec, backed=True), "d", spec, params, seed=0)
    assert sp.isspmatrix_csr(backed.X) and backed.n_obs == 297
    assert (backed.X != in_memory.X).nnz == 0
    assert backed.obs.equals(in_memory.obs) and list(backed.var_names) == list(in_memory.var_names)
    first, second = backed.uns["scrobin"]["transform"], in_memory.uns["scrobin"]["transform"]
    assert first["counted_genes"] == second["counted_genes"] and "gene3" not in first["counted_genes"]
    np.testing.assert_allclose(first["scale_mean"], second["scale_mean"], rtol=1e-12)
    source = ad.read_h5ad(path)[backed.obs_names]
    np.testing.assert_allclose(np.asarray(model_input(backed)), apply_transform(source.X, source.var_names, first),
                               rtol=1e-6, atol=1e-6)


def test_backed_prepare_refuses_count_flavours(tmp_path, prepare_params):
    path = _counts_file(tmp_path)
    spec = {**SPEC, "source": str(path)}
    with pytest.raises(ScrobinError, match="use hvg_flavor seurat or cell_ranger"):
        prepare_dataset(load_dataset(spec, backed=True), "d", spec, {**prepare_params, "hvg_flavor": "pearson_residuals"}, 0)
