"""Logistic-regression baseline: fits, survives an npz round-trip, and falls to ART's attacks."""

from __future__ import annotations

import numpy as np
import pytest
from test_attacks import toy_problem

from scrobin.model.logistic import (
    fit_logistic_baseline,
    load_logistic_baseline,
    predict_logistic_baseline,
    save_logistic_baseline,
)
from scrobin.errors import ScrobinError
from scrobin.robustness.sweep import attack_logistic_baseline


@pytest.fixture(scope="module")
def fitted():
    cells, labels, _ = toy_problem()
    return cells, labels, fit_logistic_baseline(cells, labels, seed=0, C=0.5)


def test_baseline_classifies_the_toy_data(fitted):
    cells, labels, baseline = fitted
    assert baseline.C == 0.5 and baseline.max_iter == 1000
    assert baseline.coef_.shape == (4, 50)
    assert (baseline.predict(cells) == labels).mean() > 0.95


@pytest.mark.parametrize("name", ["fgsm", "pgd"])
def test_baseline_loses_accuracy_under_art_attacks(fitted, name):
    cells, labels, baseline = fitted
    adversarial = attack_logistic_baseline(baseline, cells, labels, {"name": name, "params": {"eps": 1.0}})
    assert np.abs(adversarial - cells).max() <= 1.0 + 1e-5
    assert (baseline.predict(adversarial) == labels).mean() < 0.3


def test_any_art_attack_runs_against_the_baseline(fitted):
    cells, labels, baseline = fitted
    spec = {"name": "BasicIterativeMethod", "backend": "art", "params": {"eps": 1.0, "eps_step": 0.25, "max_iter": 5}}
    adversarial = attack_logistic_baseline(baseline, cells, labels, spec)
    assert (baseline.predict(adversarial) == labels).mean() < 0.3


def test_batched_prediction_matches_predicting_all_cells_at_once(fitted):
    cells, _, baseline = fitted
    np.testing.assert_array_equal(predict_logistic_baseline(baseline, cells, batch_size=7), baseline.predict(cells))


def test_npz_round_trip_predicts_identically(fitted, tmp_path):
    cells, _, baseline = fitted
    path = tmp_path / "logreg.npz"
    save_logistic_baseline(baseline, path)
    restored = load_logistic_baseline(path)
    with np.load(path, allow_pickle=False) as stored:
        assert sorted(stored.files) == ["classes", "coef", "intercept", "params"]
    np.testing.assert_array_equal(restored.classes_, baseline.classes_)
    np.testing.assert_array_equal(restored.predict_proba(cells), baseline.predict_proba(cells))
    assert restored.C == 0.5


def test_bad_baseline_inputs_are_refused():
    cells, labels, _ = toy_problem()
    with pytest.raises(ScrobinError, match="integer class indices"):
        fit_logistic_baseline(cells, labels.astype(float))
    with pytest.raises(ScrobinError, match="LogisticRegression arguments"):
        fit_logistic_baseline(cells, labels, n_trees=3)
