"""Which cells a stage works on, and as what: the one cell sampler and the one densifier.

Every stage draws its cells here (seeded, stratified or proportional subsets of a split, or a
plain random subset) and densifies rows here, so two stages given the same settings see the same
cells. No torch: the plot and table rules import this too.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import scipy.sparse as sp

from scrobin.contract import LABEL_KEY, SPLIT_KEY


def dense(matrix, dtype=np.float32) -> np.ndarray:
    """A dense or sparse cells x genes matrix as a dense array of ``dtype`` (no copy when it already is one)."""
    return np.asarray(matrix.toarray() if sp.issparse(matrix) else matrix, dtype=dtype)


def dense_rows(matrix, rows: np.ndarray) -> np.ndarray:
    """Rows of a dense or sparse matrix as a dense float32 block (rows x genes)."""
    return dense(matrix[rows])


def random_subset(n_total: int, size: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of ``size`` of ``n_total`` items drawn without replacement; all when None or larger."""
    if size is None or size >= n_total:
        return np.arange(n_total)
    return np.sort(rng.choice(n_total, size=size, replace=False))


def split_rows(prepared: ad.AnnData, split: str) -> np.ndarray:
    """Row indices of one split (train, validation or test)."""
    return np.flatnonzero(prepared.obs[SPLIT_KEY].to_numpy() == split)


def class_names(prepared: ad.AnnData) -> list[str]:
    """The cell types in the order of the label categories: the model's classes, as text."""
    return [str(c) for c in prepared.obs[LABEL_KEY].cat.categories]


def label_codes(prepared: ad.AnnData) -> np.ndarray:
    """Integer class index of every cell, in the order of the label categories (the model's classes)."""
    return prepared.obs[LABEL_KEY].cat.codes.to_numpy().astype(np.int64)


def stratified_subset(labels: np.ndarray, per_type: int | None, seed: int) -> np.ndarray:
    """Positions of up to ``per_type`` cells of each label, drawn with ``seed``; all when None.

    Returned in increasing order so outputs keep the prepared file's cell order.
    """
    if per_type is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(members, size=min(per_type, len(members)), replace=False)
        for members in (np.flatnonzero(labels == code) for code in np.unique(labels))
    ]
    return np.sort(np.concatenate(chosen)) if chosen else np.arange(0)


def proportional_subset(labels: np.ndarray, total: int | None, seed: int) -> np.ndarray:
    """Positions of about ``total`` cells keeping each label's share (at least one each); all when None."""
    if total is None or total >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    chosen = []
    for code in np.unique(labels):
        members = np.flatnonzero(labels == code)
        size = max(1, round(total * len(members) / len(labels)))
        chosen.append(rng.choice(members, size=min(size, len(members)), replace=False))
    return np.sort(np.concatenate(chosen))


def sampled_test_rows(prepared: ad.AnnData, per_type: int | None, seed: int) -> np.ndarray:
    """Rows of up to ``per_type`` test cells of each type (seeded); every test cell when None.

    Attribution and evaluation call this with the same settings, so they see the same cells.
    """
    test = split_rows(prepared, "test")
    return test[stratified_subset(label_codes(prepared)[test], per_type, seed)]


def random_test_rows(prepared: ad.AnnData, n_cells: int | None, seed: int) -> np.ndarray:
    """Rows of ``n_cells`` test cells drawn uniformly without replacement (seeded), in row order;
    every test cell when None. The stability metrics score these, one draw for every method."""
    test = split_rows(prepared, "test")
    return test[random_subset(len(test), n_cells, np.random.default_rng(seed))]
