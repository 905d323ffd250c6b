"""Exact truth for all eight registered methods: on a purely linear model every attribution is known.

The model is ``nn.Sequential(nn.Linear(G, K))`` with logits output, f_t(x) = W[t] . x + c[t], run
through ``compute_attributions`` like any model. Each method is checked against its closed form,
within the tolerance of its estimator (stated at each test): float32 rounding where the estimator
is exact on a linear model, the sampling error where it is not, the optimiser's where it iterates.
"""

import numpy as np
import pytest
import torch
from torch import nn

from scrobin.attribution import METHODS, compute_attributions

N_GENES, N_CLASSES, N_CELLS, N_BACKGROUND = 12, 3, 10, 40
# float32 model and attributions, values of order 10: exact estimators agree to this.
FLOAT32_ATOL = 1e-4


@pytest.fixture(scope="module")
def linear_model():
    model = nn.Sequential(nn.Linear(N_GENES, N_CLASSES))
    with torch.no_grad():
        model[0].weight.copy_(torch.linspace(-2, 2, N_GENES * N_CLASSES).reshape(N_CLASSES, N_GENES).flip(1))
        model[0].bias.copy_(torch.tensor([0.5, -1.0, 0.25]))
    return model


@pytest.fixture(scope="module")
def weights(linear_model):
    return linear_model[0].weight.detach().double().numpy()


@pytest.fixture(scope="module")
def cells():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(N_CELLS, N_GENES)).astype(np.float32)
    target = rng.integers(0, N_CLASSES, N_CELLS)
    background = rng.normal(0.4, 1.5, size=(N_BACKGROUND, N_GENES)).astype(np.float32)
    return x, target, background


def _attribute(model, cells, method, params=None, baseline="zeros", n_baseline_samples=N_BACKGROUND):
    x, target, background = cells
    attributions, _ = compute_attributions(
        model, x, target, method, params,
        {"baseline": baseline, "n_baseline_samples": n_baseline_samples},
        background=background, seed=0, device="cpu",
    )
    return attributions.astype(np.float64)


def _reference(cells, baseline):
    """The baseline the closed forms measure from: zeros, or the mean of the background rows used."""
    return 0.0 if baseline == "zeros" else cells[2].astype(np.float64).mean(axis=0)


def test_saliency_is_the_class_weight_row_and_the_loss_gradient(linear_model, weights, cells):
    x, target, _ = cells
    np.testing.assert_allclose(_attribute(linear_model, cells, "saliency"), weights[target], atol=FLOAT32_ATOL)
    logits = x.astype(np.float64) @ weights.T + linear_model[0].bias.detach().double().numpy()
    softmax = np.exp(logits - logits.max(axis=1, keepdims=True))
    softmax /= softmax.sum(axis=1, keepdims=True)
    loss_gradient = (softmax - np.eye(N_CLASSES)[target]) @ weights
    np.testing.assert_allclose(_attribute(linear_model, cells, "saliency", {"gradient_of": "loss"}), loss_gradient,
                               atol=FLOAT32_ATOL)


# The gradient of a linear model is constant along the path, so Gauss-Legendre quadrature (IG) is
# exact and DeepLIFT's rescale rule has nothing to rescale: both are W[t] * (x - b) to rounding.
@pytest.mark.parametrize("method", ["integrated_gradients", "deeplift"])
@pytest.mark.parametrize("baseline", ["zeros", "train_mean"])
def test_path_methods_are_weight_times_difference_from_the_baseline(linear_model, weights, cells, method, baseline):
    x, target, _ = cells
    expected = weights[target] * (x - _reference(cells, baseline))
    np.testing.assert_allclose(_attribute(linear_model, cells, method, baseline=baseline), expected,
                               atol=FLOAT32_ATOL)


def test_deepshap_is_weight_times_difference_from_the_background_mean(linear_model, weights, cells):
    x, target, _ = cells
    # DeepLIFT against each of the 40 background rows, averaged: exact, no sampling left.
    expected = weights[target] * (x - _reference(cells, "train_sample"))
    np.testing.assert_allclose(_attribute(linear_model, cells, "deepshap", baseline="train_sample"), expected,
                               atol=FLOAT32_ATOL)


def test_gradientshap_is_exact_against_one_reference_and_within_sampling_error_against_many(
        linear_model, weights, cells):
    x, target, background = cells
    # One reference row: every draw's gradient is W[t] and every draw's difference x - b: exact.
    expected = weights[target] * (x - _reference(cells, "train_mean"))
    np.testing.assert_allclose(_attribute(linear_model, cells, "gradientshap", baseline="train_mean"), expected,
                               atol=FLOAT32_ATOL)
    # A background: the estimate is W[t] * (x - mean of n_samples rows drawn with replacement), whose
    # error per gene has SD |W[t]| * sd(background) / sqrt(n_samples); 4.5 SD bounds all 120 values.
    n_samples = 200
    sampled = _attribute(linear_model, cells, "gradientshap", {"n_samples": n_samples}, baseline="train_sample")
    expected = weights[target] * (x - _reference(cells, "train_sample"))
    sampling_sd = np.abs(weights[target]) * background.std(axis=0) / np.sqrt(n_samples)
    assert (np.abs(sampled - expected) <= 4.5 * sampling_sd + FLOAT32_ATOL).all()
    assert not np.allclose(sampled, expected, atol=FLOAT32_ATOL)  # it does sample: the bound is not idle


# A linear model's game v(S) = f(x_S, b_rest) is additive, so the Shapley values are W[t] * (x - b)
# and the kernel-weighted regression fits it with zero residual: exact for any design of full rank,
# sampled (3 x genes + 3072 coalitions by default, fewer than the 4,094 of 12 genes) or tiny (40).
@pytest.mark.parametrize("n_samples", [None, 40])
@pytest.mark.parametrize("baseline", ["zeros", "train_sample"])
def test_kernelshap_is_the_exact_shapley_value(linear_model, weights, cells, n_samples, baseline):
    x, target, _ = cells
    attributions = _attribute(linear_model, cells, "kernelshap", {"n_samples": n_samples}, baseline=baseline,
                              n_baseline_samples=N_BACKGROUND)
    np.testing.assert_allclose(attributions, weights[target] * (x - _reference(cells, baseline)), atol=FLOAT32_ATOL)


# With alpha 0 the surrogate is weighted least squares of an output that is exactly linear in the
# kept/replaced indicators, f(b) + sum_g z_g W[t,g] (x_g - b_g): zero residual, so neither the
# distance nor the kernel width (which only reweight the samples) changes the coefficients.
@pytest.mark.parametrize(("distance", "kernel_width"), [("cosine", 0.25), ("cosine", 0.1), ("hamming", 1.0)])
@pytest.mark.parametrize("baseline", ["zeros", "train_sample"])
def test_lime_without_ridge_is_weight_times_difference(linear_model, weights, cells, distance, kernel_width, baseline):
    x, target, _ = cells
    params = {"alpha": 0.0, "distance": distance, "kernel_width": kernel_width, "n_samples": 500}
    attributions = _attribute(linear_model, cells, "lime", params, baseline=baseline, n_baseline_samples=5)
    x_minus_b = x - (0.0 if baseline == "zeros" else _drawn_background_mean(cells, 5))
    np.testing.assert_allclose(attributions, weights[target] * x_minus_b, atol=FLOAT32_ATOL)


def _drawn_background_mean(cells, n_rows):
    """Mean of the ``n_rows`` background rows ``compute_attributions`` draws with seed 0."""
    from scrobin.attribution.baselines import baseline_rows

    rows = baseline_rows("train_sample", n_rows, N_GENES, cells[2], np.random.default_rng(0))
    return rows.astype(np.float64).mean(axis=0)


def test_lime_default_ridge_shrinks_towards_zero(linear_model, weights, cells):
    x, target, _ = cells
    exact = weights[target] * x
    shrunk = _attribute(linear_model, cells, "lime")  # LIME's Ridge(alpha=1)
    ratio = (shrunk * exact).sum(axis=1) / (exact * exact).sum(axis=1)
    assert (ratio < 1.0).all() and (ratio > 0.95).all()


def test_activation_maximization_is_the_penalised_maximiser(linear_model, weights, cells):
    target = cells[1]
    # argmax_z W[t] . z - l2 |z - b|^2 = b + W[t] / (2 l2). With l2 0.5 the maximiser lies within 2
    # of the baseline, 20 Adam steps of lr 0.1, so 200 steps reach it: tolerance 1e-3 for Adam's
    # residual oscillation around the optimum (measured 6e-5).
    converged = _attribute(linear_model, cells, "activation_maximization", {"l2": 0.5, "steps": 200, "lr": 0.1})
    np.testing.assert_allclose(converged, weights[target] / (2 * 0.5), atol=1e-3)
    # With the defaults (l2 0.01, 200 steps of lr 0.1) the maximiser, 100 away for |W| = 2, is out of
    # reach: Adam moves a coordinate at most about lr per step, so the result stops near lr x steps.
    # The default run's models have smaller input gradients: their maximisers lie within 12 of the
    # baseline and 200 steps rank genes as 5,000 do (per-class Spearman >= 0.9993, pbmc68k and the
    # simulation).
    defaults = METHODS["activation_maximization"].defaults
    stopped = _attribute(linear_model, cells, "activation_maximization")
    assert np.abs(stopped).max() <= defaults["lr"] * defaults["steps"] * 1.01
    assert np.abs(weights[target] / (2 * defaults["l2"])).max() > 4 * np.abs(stopped).max()


# The test of each registered method's closed form; a method added to the registry needs one here.
TRUTH_TESTS = {
    "saliency": test_saliency_is_the_class_weight_row_and_the_loss_gradient,
    "integrated_gradients": test_path_methods_are_weight_times_difference_from_the_baseline,
    "deeplift": test_path_methods_are_weight_times_difference_from_the_baseline,
    "deepshap": test_deepshap_is_weight_times_difference_from_the_background_mean,
    "gradientshap": test_gradientshap_is_exact_against_one_reference_and_within_sampling_error_against_many,
    "kernelshap": test_kernelshap_is_the_exact_shapley_value,
    "lime": test_lime_without_ridge_is_weight_times_difference,
    "activation_maximization": test_activation_maximization_is_the_penalised_maximiser,
}


def test_every_registered_method_has_its_closed_form_checked():
    assert set(TRUTH_TESTS) == set(METHODS)
