"""Exact L-inf robustness of linear classifiers: equal to brute force, never above an attack."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from scrobin.attacks.gradient import fgsm, pgd
from scrobin.errors import ScrobinError
from scrobin.robustness.linear_exact import (
    EXACT_ROW,
    LinearDecision,
    exact_linf_robustness,
    exact_sweep,
    logistic_decision,
    worst_case_inputs,
)
from scrobin.robustness.sweep import attack_logistic_baseline
from scrobin.robustness.table import TABLE_COLUMNS

CLIP = 10.0
# An upper bound for the domain clip of the native attacks, which take finite (min, max) bounds.
NO_UPPER = 1e6


def tiny_problem(n_classes: int = 3, n_genes: int = 6, n_cells: int = 40, seed: int = 0, clip: float | None = CLIP):
    """A random linear classifier on log-expression-like cells, with genes placed so that the
    domain bound (x near 0) and the clip (standardised values near 10) are active at eps 0.3."""
    rng = np.random.default_rng(seed)
    mean, scale = rng.uniform(0.5, 1.5, n_genes), rng.uniform(0.05, 0.5, n_genes)
    decision = LinearDecision(rng.normal(size=(n_classes, n_genes)), rng.normal(scale=0.5, size=n_classes),
                              mean, scale, clip)
    x = rng.uniform(0.0, 3.0, size=(n_cells, n_genes))
    x[: n_cells // 2, 0] = rng.uniform(0.0, 0.2, n_cells // 2)
    # Gene 1 sits just below the clip in half the cells: moving it up crosses 10, down stays below.
    x[n_cells // 2:, 1] = mean[1] + scale[1] * (CLIP - rng.uniform(0.0, 0.5, n_cells - n_cells // 2))
    y = decision.scores(x).argmax(axis=1)
    flip = rng.random(n_cells) < 0.2
    y[flip] = (y[flip] + 1) % n_classes
    return x, y, decision


def brute_force(x, y, decision, eps, domain_low):
    """Smallest margin per class and robust flag over every point of a 3-per-gene grid of the box
    (both ends and the clean value): exhaustive over the vertices, plus interior points."""
    lower = x - eps if domain_low is None else np.maximum(x - eps, domain_low)
    upper = x + eps
    choices = np.array(list(itertools.product(range(3), repeat=x.shape[1])))
    points = np.where(choices == 0, lower[:, None, :], np.where(choices == 1, x[:, None, :], upper[:, None, :]))
    scores = decision.standardise(points) @ decision.weight.T + decision.bias
    true_scores = np.take_along_axis(scores, y[:, None, None], axis=2)
    margins = (true_scores - scores).min(axis=1)
    margins[np.arange(len(y)), y] = np.inf
    robust = (scores.argmax(axis=2) == y[:, None]).all(axis=1)
    return margins, robust


@pytest.mark.parametrize("domain_low", [0.0, None])
@pytest.mark.parametrize("eps", [0.1, 0.3, 0.8])
def test_closed_form_equals_brute_force_with_clip_and_domain_active(eps, domain_low):
    x, y, decision = tiny_problem()
    assert (x - eps < 0).any()
    below = decision.standardise(x) < CLIP
    assert (below & ((x + eps - decision.mean) / decision.scale > CLIP)).any()
    result = exact_linf_robustness(x, y, decision, eps, domain_low, batch_size=7)
    margins, robust = brute_force(x, y, decision, eps, domain_low)
    np.testing.assert_allclose(result.min_margin, margins, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(result.robust, robust)
    assert 0 < robust.sum() < len(y)


def test_without_clip_or_domain_the_margin_drops_by_eps_times_the_l1_norm():
    x, y, decision = tiny_problem(n_classes=4, n_genes=12, clip=None)
    eps = np.linspace(0.05, 0.4, 12)
    result = exact_linf_robustness(x, y, decision, eps)
    clean = decision.scores(x)
    for j in range(4):
        others = y != j
        drop = np.abs((decision.weight[y[others]] - decision.weight[j]) / decision.scale) @ eps
        expected = clean[others, y[others]] - clean[others, j] - drop
        np.testing.assert_allclose(result.min_margin[others, j], expected, rtol=1e-10)


def test_worst_vertex_reaches_the_minimum_and_stays_in_the_box():
    x, y, decision = tiny_problem(n_classes=4, n_genes=8, n_cells=60, seed=3)
    eps = 0.3
    result = exact_linf_robustness(x, y, decision, eps, domain_low=0.0)
    worst = worst_case_inputs(x, y, decision, eps, domain_low=0.0)
    assert np.abs(worst - x).max() <= eps + 1e-12 and worst.min() >= 0.0
    scores = decision.scores(worst)
    rows = np.arange(len(y))
    np.testing.assert_allclose(scores[rows, y] - scores[rows, result.worst_class],
                               result.min_margin[rows, result.worst_class], rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(scores.argmax(axis=1) == y, result.robust)
    np.testing.assert_array_equal(result.attacked_label == y, result.robust)


def test_eps_zero_is_the_clean_accuracy_and_ties_go_to_the_first_class():
    x, y, decision = tiny_problem()
    result = exact_linf_robustness(x, y, decision, 0.0)
    np.testing.assert_array_equal(result.robust, decision.scores(x).argmax(axis=1) == y)
    tied = LinearDecision(np.array([[1.0], [1.0]]), np.zeros(2))
    cells = np.ones((2, 1))
    assert exact_linf_robustness(cells, np.array([0, 1]), tied, 0.0).robust.tolist() == [True, False]


class LinearModule(nn.Module):
    """The same decision in torch, on the input divided by ``unit``: a box of eps * unit_g in x
    is the scalar-eps box the native attacks take."""

    def __init__(self, decision: LinearDecision, unit: np.ndarray):
        super().__init__()
        for name, value in (("weight", decision.weight), ("bias", decision.bias), ("mean", decision.mean),
                            ("scale", decision.scale), ("unit", unit)):
            self.register_buffer(name, torch.tensor(value, dtype=torch.float32))
        self.clip_high = decision.clip_high

    def forward(self, v):
        scaled = (v * self.unit - self.mean) / self.scale
        if self.clip_high is not None:
            scaled = scaled.clamp_max(self.clip_high)
        return scaled @ self.weight.T + self.bias


def attacked_accuracy(x, y, decision, eps, unit, domain_low, attack) -> float:
    """Accuracy when a cell counts as broken if any of the attack's tries breaks it; each attacked
    cell is put back into the box in float64, so float32 rounding cannot leave it."""
    module = LinearModule(decision, unit)
    clip = None if domain_low is None else (domain_low, NO_UPPER)
    v = (x / unit).astype(np.float32)
    correct = np.ones(len(y), dtype=bool)
    for adversarial in attack(module, v, y, eps, clip):
        moved = np.clip(adversarial.astype(np.float64) * unit, x - eps * unit, x + eps * unit)
        if domain_low is not None:
            moved = np.maximum(moved, domain_low)
        correct &= decision.scores(moved).argmax(axis=1) == y
    return float(correct.mean())


def pgd_restarts(module, v, y, eps, clip):
    yield fgsm(module, v, y, eps, clip=clip)
    yield pgd(module, v, y, eps, step_size=eps / 20, iterations=100, clip=clip)
    for seed in range(4):
        yield pgd(module, v, y, eps, step_size=eps / 20, iterations=100, random_start=True, seed=seed, clip=clip)


@pytest.mark.parametrize("domain_low", [0.0, None])
def test_exact_robust_accuracy_is_never_above_pgd(domain_low):
    x, y, decision = tiny_problem(n_classes=4, n_genes=10, n_cells=80, seed=1)
    unit = np.random.default_rng(1).uniform(0.5, 2.0, x.shape[1])
    table = exact_sweep(x, y, decision, [0.05, 0.1, 0.2, 0.4], unit, domain_low)
    for eps, exact in zip(table["eps"], table["accuracy"]):
        if eps == 0:
            continue
        attacked = attacked_accuracy(x, y, decision, eps, unit, domain_low, pgd_restarts)
        assert exact <= attacked + 1e-12
    assert table["accuracy"].iloc[0] > table["accuracy"].iloc[-1]


@pytest.mark.parametrize("domain_low", [0.0, None])
def test_binary_without_clip_fgsm_is_exact(domain_low):
    """Two classes and no clip: the loss gradient's sign is the minimising vertex, so one FGSM step
    (clipped to the domain) reaches the exact robust accuracy."""
    x, y, decision = tiny_problem(n_classes=2, n_genes=10, n_cells=120, seed=2, clip=None)
    unit = np.full(x.shape[1], 0.7)
    table = exact_sweep(x, y, decision, [0.05, 0.1, 0.2, 0.4], unit, domain_low)
    single_step = lambda module, v, labels, eps, clip: [fgsm(module, v, labels, eps, clip=clip)]  # noqa: E731
    for eps, exact in zip(table["eps"][1:], table["accuracy"][1:]):
        assert exact == pytest.approx(attacked_accuracy(x, y, decision, eps, unit, domain_low, single_step))
    assert len(set(table["accuracy"])) > 2


def test_sweep_table_rows_match_the_robust_flags():
    x, y, decision = tiny_problem(n_classes=4, n_genes=8, n_cells=60, seed=4)
    table = exact_sweep(x, y, decision, [0.3, 0.1], unit=0.5)
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert table["eps"].tolist() == [0.0, 0.1, 0.3]
    assert (table[list(EXACT_ROW)] == list(EXACT_ROW.values())).all().all()
    assert table["accuracy"].iloc[0] == np.mean(decision.scores(x).argmax(axis=1) == y)
    assert table["accuracy"].iloc[2] == exact_linf_robustness(x, y, decision, 0.15).robust.mean()
    assert table["accuracy"].is_monotonic_decreasing
    assert (table["accuracy_ci_low"] <= table["accuracy"]).all() and (table["n_cells"] == 60).all()


@pytest.fixture(scope="module")
def logistic_data():
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(3, 20))
    labels = rng.integers(0, 3, 150)
    return (centres[labels] + rng.normal(size=(150, 20))).astype(np.float32), labels


@pytest.mark.parametrize("n_classes", [2, 3])
def test_logistic_decision_predicts_like_scikit_learn(logistic_data, n_classes):
    cells, labels = logistic_data
    keep = labels < n_classes
    classifier = LogisticRegression(max_iter=500).fit(cells[keep], labels[keep])
    decision = logistic_decision(classifier)
    np.testing.assert_array_equal(decision.classes[decision.scores(cells).argmax(axis=1)], classifier.predict(cells))


@pytest.mark.parametrize("name", ["fgsm", "pgd"])
def test_logistic_baseline_exact_accuracy_is_at_most_art_attacks(logistic_data, name):
    cells, labels = logistic_data
    classifier = LogisticRegression(max_iter=500).fit(cells, labels)
    table = exact_sweep(cells, labels, logistic_decision(classifier), [0.2, 0.5])
    for eps, exact in zip(table["eps"][1:], table["accuracy"][1:]):
        spec = {"name": name, "params": {"eps": eps, **({"iterations": 20} if name == "pgd" else {})}}
        adversarial = attack_logistic_baseline(classifier, cells, labels, spec)
        assert exact <= np.mean(classifier.predict(adversarial) == labels) + 1e-12


def test_bad_inputs_are_refused_in_one_line():
    x, y, decision = tiny_problem()
    cases = [
        (lambda: exact_linf_robustness(x[:, :3], y, decision, 0.1), "cells have shape"),
        (lambda: exact_linf_robustness(x, y + 5, decision, 0.1), "labels run from"),
        (lambda: exact_linf_robustness(x, y.astype(float), decision, 0.1), "one integer class index per cell"),
        (lambda: exact_linf_robustness(x, y, decision, -0.1), "finite values >= 0"),
        (lambda: exact_linf_robustness(x, y, decision, np.ones(3)), "one number or one per gene"),
        (lambda: exact_linf_robustness(x - 1, y, decision, 0.1, domain_low=0.0), "below domain_low"),
        (lambda: exact_sweep(x, y, decision, [0.1], unit=0.0), "unit must be positive"),
        (lambda: exact_linf_robustness(x, y, decision, 0.1, batch_size=0), "batch_size must be a positive integer"),
        (lambda: LinearDecision(np.ones((1, 3)), np.zeros(1)), "at least two classes"),
        (lambda: LinearDecision(np.ones((2, 3)), np.zeros(2), scale=np.zeros(3)), "scale has values <= 0"),
    ]
    for call, expected in cases:
        with pytest.raises(ScrobinError) as caught:
            call()
        assert expected in str(caught.value) and "\n" not in str(caught.value)
