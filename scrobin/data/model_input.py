"""The model input of a prepared dataset, scaled batch by batch from its sparse log-normalised ``X``.

``prepared.h5ad`` keeps ``X`` sparse (CSR float32, log-normalised, model genes) and records the
per-gene centring and scaling in ``uns["scrobin"]["transform"]``; ``uns["scrobin"]["x_scaled"]``
is False then. Scaling densifies (every zero becomes ``-mean/std``): a million cells x 2,500
genes is 10 GB as float32, so it is applied to the rows a stage reads, one batch at a time, by
:func:`scrobin.data.preprocess.apply_scaling`, the same function ``apply_transform`` ends with. Files
written before this layout hold the scaled values in ``X`` (``x_scaled`` absent or True) and are
read as they are.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import scipy.sparse as sp

from scrobin.cells import label_codes, split_rows
from scrobin.contract import X_SCALED_KEY
from scrobin.data.preprocess import apply_scaling


class ModelInput:
    """Rows of a prepared matrix as the model sees them: cells x model genes, float32.

    Indexing with row positions (an integer array or a slice) returns a dense float32 block with
    the transform's scaling applied, so a stage that reads a batch at a time never densifies more
    than that batch. ``len``, ``shape`` and ``np.asarray`` (all rows at once) work as for an array,
    so the training loop, the attacks and scikit-learn take it where they took ``X[rows]``.

    Parameters
    ----------
    matrix
        Cells x genes ``X`` of a prepared dataset: dense, sparse CSR or a backed sparse dataset.
    transform
        ``uns["scrobin"]["transform"]``.
    scaled
        Whether ``matrix`` already holds the scaled values (older files, or no ``scale`` step).
    rows
        Row positions of ``matrix`` this view covers; all rows when None.
    """

    def __init__(self, matrix, transform: dict, scaled: bool, rows: np.ndarray | None = None):
        self.matrix, self.transform, self.scaled = matrix, transform, scaled or "scale" not in transform["steps"]
        self.rows = np.arange(matrix.shape[0]) if rows is None else np.asarray(rows)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.rows), self.matrix.shape[1])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index) -> np.ndarray:
        positions = self.rows[index]
        # h5py-backed matrices need increasing indices; the caller's order is restored after.
        order = np.argsort(positions, kind="stable")
        block = self.matrix[positions[order]]
        block = apply_scaling(block, self.transform) if not self.scaled else _dense_float32(block)
        restored = np.empty_like(order)
        restored[order] = np.arange(len(order))
        return block[restored]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        block = self[np.arange(len(self.rows))]
        return block if dtype is None else block.astype(dtype, copy=False)


def model_input(prepared: ad.AnnData, rows: np.ndarray | None = None) -> ModelInput:
    """The model input of a prepared dataset's cells (``rows``: positions; all when None).

    The one way every stage reads cells for the model: training, attacks, attribution and
    evaluation see exactly ``apply_transform`` of the source cells.
    """
    info = prepared.uns.get("scrobin", {})
    # Without the record (a hand-built AnnData) X is taken as the model input, as in older files.
    transform = info.get("transform", {"steps": []})
    return ModelInput(prepared.X, transform, bool(info.get(X_SCALED_KEY, True)), rows)


def _dense_float32(block) -> np.ndarray:
    return (block.toarray() if sp.issparse(block) else np.asarray(block)).astype(np.float32, copy=False)


def split_cells(prepared: ad.AnnData, split: str) -> tuple[object, np.ndarray]:
    """(model input, integer labels) of one split; the input is scaled batch by batch as it is read
    (:func:`scrobin.data.model_input.model_input`), so the split is never densified whole."""
    rows = split_rows(prepared, split)
    return model_input(prepared, rows), label_codes(prepared)[rows]
