"""Which cells a stage works on: seeded, stratified subsets of a prepared dataset's splits."""

from __future__ import annotations

import anndata as ad
import numpy as np

from scrobin.data.datasets import LABEL_COLUMN


def split_rows(prepared: ad.AnnData, split: str) -> np.ndarray:
    """Row indices of one split (train, validation or test)."""
    return np.flatnonzero(prepared.obs["split"].to_numpy() == split)


def class_names(prepared: ad.AnnData) -> list[str]:
    """The cell types in the order of the label categories: the model's classes, as text."""
    return [str(c) for c in prepared.obs[LABEL_COLUMN].cat.categories]


def label_codes(prepared: ad.AnnData) -> np.ndarray:
    """Integer class index of every cell, in the order of the label categories (the model's classes)."""
    return prepared.obs[LABEL_COLUMN].cat.codes.to_numpy().astype(np.int64)


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
