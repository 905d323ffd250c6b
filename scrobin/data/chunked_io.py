"""Statistics of a cells x genes matrix read one block of cells at a time, so memory stays bounded.

``prepare`` opens a large ``.h5ad`` with ``anndata.read_h5ad(backed="r")``: ``X`` (or a layer) is
then an on-disk sparse dataset (or an h5py dataset when dense) and every statistic the
preprocessing needs (gene totals, per-cell quality control, the highly-variable-gene moments, the
log-normalised model genes) is accumulated over blocks of ``CHUNK_CELLS`` cells. In-memory
matrices go through the same functions (a block is then a slice), so both paths give the same
numbers. Progress is logged every ``PROGRESS_EVERY`` blocks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import scipy.sparse as sp

log = logging.getLogger(__name__)

CHUNK_CELLS = 20_000
PROGRESS_EVERY = 10
# Values read to tell counts, log-normalised and scaled input apart on a backed matrix.
SAMPLE_VALUES = 2_000_000


def in_memory(matrix) -> bool:
    """True for a numpy array or scipy sparse matrix; False for a backed (on-disk) one."""
    return sp.issparse(matrix) or isinstance(matrix, np.ndarray)


def row_blocks(matrix, rows: np.ndarray | None = None, chunk_cells: int | None = None,
               what: str = "") -> Iterator[tuple[np.ndarray, object]]:
    """Yield ``(positions, block)`` over the rows of ``matrix``, one contiguous read per block.

    Parameters
    ----------
    matrix
        Cells x genes: dense, scipy sparse, or backed (anndata's on-disk CSR dataset, h5py).
    rows
        Increasing row positions to visit; every row when None.
    chunk_cells
        Cells per read (``CHUNK_CELLS`` when None); peak memory is about one block of the source
        plus its copies.
    what
        Names the pass in the progress log lines ("" logs nothing).

    Yields
    ------
    positions, block
        The positions of the rows in ``block`` and the block itself (CSR or dense, as stored).
    """
    n_rows, chunk_cells = matrix.shape[0], chunk_cells or CHUNK_CELLS
    rows = np.arange(n_rows) if rows is None else np.asarray(rows)
    bounds = np.searchsorted(rows, np.arange(0, n_rows + chunk_cells, chunk_cells))
    n_blocks = -(-n_rows // chunk_cells)
    for index, start in enumerate(range(0, n_rows, chunk_cells)):
        chunk = rows[bounds[index]:bounds[index + 1]]
        if len(chunk):
            stop = min(start + chunk_cells, n_rows)
            block = matrix[start:stop]
            yield chunk, block if len(chunk) == stop - start else block[chunk - start]
        if what and (index + 1) % PROGRESS_EVERY == 0 and index + 1 < n_blocks:
            log.info("%s: %d/%d cells (%.0f%%)", what, min(start + chunk_cells, n_rows), n_rows,
                     100 * (index + 1) / n_blocks)


def sample_values(matrix, max_values: int = SAMPLE_VALUES) -> np.ndarray:
    """Stored values (zeros of sparse blocks excluded) of the leading cells, at most ``max_values``."""
    values, seen = [], 0
    for _, block in row_blocks(matrix):
        block_values = block.data if sp.issparse(block) else np.asarray(block).ravel()
        values.append(block_values)
        seen += block_values.size
        if seen >= max_values:
            break
    return np.concatenate(values) if values else np.zeros(0, np.float32)


def matrix_values(matrix) -> np.ndarray:
    """The stored values of a dense or sparse matrix (zeros of sparse matrices excluded); of a
    backed (on-disk) matrix, those of its leading cells (:func:`sample_values`)."""
    if not in_memory(matrix):
        return sample_values(matrix)
    return matrix.data if sp.issparse(matrix) else np.asarray(matrix)


def normalize_log1p(counts, target_sum: float):
    """Library-size normalise each cell to ``target_sum`` then log1p; sparse stays sparse.

    Here, with the block readers, because the log-normalised model genes of a backed matrix are
    built block by block with it (:func:`lognorm_block`); ``scrobin.data.preprocess`` uses it too.
    """
    counts = sp.csr_matrix(counts, dtype=np.float64) if sp.issparse(counts) else np.asarray(counts, np.float64)
    totals = np.asarray(counts.sum(axis=1)).ravel()
    factors = np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)
    if sp.issparse(counts):
        scaled = sp.diags(factors) @ counts
        scaled.data = np.log1p(scaled.data)
        return sp.csr_matrix(scaled, dtype=np.float32)
    return np.log1p(counts * factors[:, None]).astype(np.float32)


def gene_totals(matrix, rows: np.ndarray | None = None, what: str = "") -> np.ndarray:
    """Sum of each gene (column) over ``rows`` (all when None), float64, shape (genes,)."""
    totals = np.zeros(matrix.shape[1], np.float64)
    for _, block in row_blocks(matrix, rows, what=what):
        totals += np.asarray(block.sum(axis=0, dtype=np.float64)).ravel()
    return totals


def map_blocks(matrix, function: Callable, rows: np.ndarray | None = None, what: str = "") -> np.ndarray:
    """``function(block)`` (one value per cell) over the blocks of ``rows``, concatenated."""
    parts = [np.asarray(function(block)) for _, block in row_blocks(matrix, rows, what=what)]
    return np.concatenate(parts) if parts else np.zeros(0)


def lognorm_block(block, genes: np.ndarray, target_sum: float | None, selected: np.ndarray | None = None):
    """Log-normalised CSR float32 of a block: counts over ``genes`` normalised to ``target_sum``
    then log1p (``target_sum`` None: the block already holds log-normalised values), restricted to
    the positions ``selected`` among ``genes`` (all when None)."""
    block = block[:, genes]
    block = normalize_log1p(block, target_sum) if target_sum is not None else _csr32(block)
    return block if selected is None else block[:, selected]


def lognorm_rows(matrix, rows: np.ndarray, genes: np.ndarray, target_sum: float | None,
                 selected: np.ndarray | None = None, what: str = "") -> sp.csr_matrix:
    """Rows x selected genes of the log-normalised matrix, sparse CSR float32, built block by block.

    Only the result is ever held whole (a million cells x 2,500 genes at ~20% density is ~4 GB):
    blocks are moved into preallocated arrays one by one instead of ``sp.vstack``, which would
    hold the result twice.
    """
    blocks = [lognorm_block(block, genes, target_sum, selected) for _, block in row_blocks(matrix, rows, what=what)]
    width = len(genes) if selected is None else len(selected)
    return stack_rows(blocks, width)


def stack_rows(blocks: list, width: int) -> sp.csr_matrix:
    """CSR float32 of the row blocks (consumed from the list) at one copy of peak memory."""
    n_rows, nnz = sum(block.shape[0] for block in blocks), sum(block.nnz for block in blocks)
    index_dtype = np.int32 if max(nnz, width) < np.iinfo(np.int32).max else np.int64
    data, indices = np.empty(nnz, np.float32), np.empty(nnz, index_dtype)
    indptr = np.zeros(n_rows + 1, index_dtype)
    row, position = 0, 0
    while blocks:
        block = blocks.pop(0)
        block.sort_indices()
        data[position:position + block.nnz], indices[position:position + block.nnz] = block.data, block.indices
        indptr[row + 1:row + 1 + block.shape[0]] = block.indptr[1:] + position
        row, position = row + block.shape[0], position + block.nnz
    return sp.csr_matrix((data, indices, indptr), shape=(n_rows, width))


def hvg_moments(matrix, rows: np.ndarray, genes: np.ndarray, target_sum: float | None, flavor: str,
                what: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and variance (ddof=1) that scanpy's ``highly_variable_genes`` computes.

    ``seurat`` takes them of ``expm1`` of the log-normalised values (float32, as scanpy), any
    other ``flavor`` (``cell_ranger``) of the values themselves; sums of values and of squares are
    accumulated in float64 over blocks.
    """
    total, squares, n = np.zeros(len(genes)), np.zeros(len(genes)), 0
    for _, block in row_blocks(matrix, rows, what=what):
        values = lognorm_block(block, genes, target_sum)
        if flavor == "seurat":
            values.data = np.expm1(values.data)
        values = sp.csr_matrix(values, dtype=np.float64)
        total += np.asarray(values.sum(axis=0)).ravel()
        squares += np.asarray(values.multiply(values).sum(axis=0)).ravel()
        n += values.shape[0]
    mean = total / n
    variance = np.maximum(squares - n * mean**2, 0.0) / max(n - 1, 1)
    return mean, variance


def highly_variable_from_moments(mean: np.ndarray, variance: np.ndarray, n_top_genes: int, flavor: str,
                                 n_bins: int = 20) -> np.ndarray:
    """Indices of the highly variable genes from per-gene moments, as scanpy's ``seurat`` and
    ``cell_ranger`` flavours select them.

    Own code because scanpy's ``highly_variable_genes`` needs the whole matrix in memory; this is
    its dispersion normalisation (``_highly_variable_genes_single_batch``, scanpy 1.11) applied to
    moments accumulated in blocks: dispersion var/mean (log of both for seurat), normalised within
    bins of mean expression (mean and std per bin for seurat, a bin of one gene gets (d - 0) / d;
    median and MAD for cell_ranger), top ``n_top_genes`` by normalised dispersion (ties included).
    Tested against scanpy's in-memory result.
    """
    mean, variance = mean.astype(np.float64).copy(), variance.astype(np.float64)
    mean[mean == 0] = 1e-12
    dispersion = variance / mean
    if flavor == "seurat":
        dispersion[dispersion == 0] = np.nan
        dispersion = np.log(dispersion)
        mean = np.log1p(mean)
        bins = pd.cut(pd.Series(mean), bins=n_bins)
    else:
        bins = pd.cut(pd.Series(mean), bins=np.r_[-np.inf, np.percentile(mean, np.arange(10, 105, 5)), np.inf])
    grouped = pd.Series(dispersion).groupby(bins, observed=True)
    if flavor == "seurat":
        stats = grouped.agg(avg="mean", dev="std")
        single = stats["dev"].isnull()
        stats.loc[single, "dev"] = stats.loc[single, "avg"]
        stats.loc[single, "avg"] = 0
    else:
        from scipy.stats import median_abs_deviation

        stats = grouped.agg(avg="median", dev=lambda d: median_abs_deviation(d, scale="normal", nan_policy="omit"))
    stats = stats.loc[bins].to_numpy()
    normalised = (dispersion - stats[:, 0]) / stats[:, 1]
    finite = np.sort(normalised[~np.isnan(normalised)])[::-1]
    cutoff = finite[min(n_top_genes, finite.size) - 1]
    return np.flatnonzero(np.nan_to_num(normalised, nan=-np.inf) >= cutoff)


def _csr32(block) -> sp.csr_matrix:
    return sp.csr_matrix(block, dtype=np.float32)
