"""Seeded, stratified cell subsets."""

import numpy as np

from scrobin.cells import proportional_subset, stratified_subset

LABELS = np.repeat([0, 1, 2], [50, 20, 3])


def test_stratified_subset_caps_each_type_and_repeats():
    chosen = stratified_subset(LABELS, 10, seed=1)
    assert np.bincount(LABELS[chosen]).tolist() == [10, 10, 3]
    assert np.array_equal(chosen, stratified_subset(LABELS, 10, seed=1))
    assert not np.array_equal(chosen, stratified_subset(LABELS, 10, seed=2))
    assert np.all(np.diff(chosen) > 0)
    assert len(stratified_subset(LABELS, None, seed=1)) == len(LABELS)


def test_proportional_subset_keeps_shares():
    chosen = proportional_subset(LABELS, 30, seed=0)
    assert np.bincount(LABELS[chosen]).tolist() == [21, 8, 1]
    assert len(proportional_subset(LABELS, None, seed=0)) == len(LABELS)
