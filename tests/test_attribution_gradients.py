"""Gradient methods (saliency, integrated gradients, DeepLIFT, DeepSHAP, GradientSHAP).

On a linear model every method has a closed form; on a small ReLU network the completeness
properties must hold.
"""

import numpy as np
import pytest
import torch
from torch import nn

from scrobin.attribution import compute_attributions
from scrobin.model.network import MLPClassifier

N_GENES, N_CLASSES, N_CELLS = 12, 3, 10


@pytest.fixture
def linear_model():
    torch.manual_seed(0)
    model = nn.Linear(N_GENES, N_CLASSES)
    with torch.no_grad():
        model.weight.copy_(torch.linspace(-2, 2, N_GENES * N_CLASSES).reshape(N_CLASSES, N_GENES))
        model.bias.copy_(torch.tensor([0.5, -1.0, 0.25]))
    return model


@pytest.fixture
def mlp():
    torch.manual_seed(1)
    return MLPClassifier(N_GENES, N_CLASSES, hidden_sizes=(16, 8))


@pytest.fixture
def cells():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(N_CELLS, N_GENES)).astype(np.float32)
    target = rng.integers(0, N_CLASSES, N_CELLS)
    background = rng.normal(0.3, 1.0, size=(40, N_GENES)).astype(np.float32)
    return x, target, background


def _weights(model):
    return model.weight.detach().numpy().astype(np.float64)


def _outputs(model, x):
    with torch.no_grad():
        return model.eval()(torch.as_tensor(x, dtype=torch.float32)).numpy().astype(np.float64)


def _target_output(model, x, target):
    return _outputs(model, x)[np.arange(len(x)), target]


def test_saliency_of_class_is_the_weight_row(linear_model, cells):
    x, target, _ = cells
    attributions, _ = compute_attributions(
        linear_model, x, target, "saliency", seed=0, device="cpu"
    )
    np.testing.assert_allclose(attributions, _weights(linear_model)[target], atol=1e-6)


def test_saliency_absolute_takes_magnitudes(linear_model, cells):
    x, target, _ = cells
    attributions, _ = compute_attributions(
        linear_model, x, target, "saliency", {"absolute": True}, seed=0, device="cpu"
    )
    np.testing.assert_allclose(attributions, np.abs(_weights(linear_model)[target]), atol=1e-6)


def test_saliency_of_loss_is_the_cross_entropy_gradient(linear_model, cells):
    x, target, _ = cells
    logits = _outputs(linear_model, x)
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    expected = (probabilities - np.eye(N_CLASSES)[target]) @ _weights(linear_model)
    attributions, _ = compute_attributions(
        linear_model, x, target, "saliency", {"gradient_of": "loss"}, seed=0, device="cpu"
    )
    np.testing.assert_allclose(attributions, expected, atol=1e-5)


def test_saliency_loss_ignores_the_output_choice(linear_model, cells):
    x, target, _ = cells
    on_logits, _ = compute_attributions(
        linear_model, x, target, "saliency", {"gradient_of": "loss"}, seed=0, device="cpu"
    )
    on_probabilities, _ = compute_attributions(
        linear_model,
        x,
        target,
        "saliency",
        {"gradient_of": "loss", "output": "probabilities"},
        seed=0,
        device="cpu",
    )
    np.testing.assert_allclose(on_probabilities, on_logits, atol=1e-6)


def test_saliency_both_returns_class_and_loss_layers(linear_model, cells):
    x, target, _ = cells
    main, info = compute_attributions(
        linear_model, x, target, "saliency", {"gradient_of": "both"}, seed=0, device="cpu"
    )
    loss_only, _ = compute_attributions(
        linear_model, x, target, "saliency", {"gradient_of": "loss"}, seed=0, device="cpu"
    )
    assert list(info["layers"]) == ["class", "loss"]
    np.testing.assert_array_equal(main, info["layers"]["class"])
    np.testing.assert_allclose(main, _weights(linear_model)[target], atol=1e-6)
    np.testing.assert_array_equal(info["layers"]["loss"], loss_only)


def test_saliency_of_probability_is_the_softmax_gradient(linear_model, cells):
    x, target, _ = cells
    logits = _outputs(linear_model, x)
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    weights = _weights(linear_model)
    chosen = probabilities[np.arange(N_CELLS), target][:, None]
    expected = chosen * (weights[target] - probabilities @ weights)
    attributions, _ = compute_attributions(
        linear_model, x, target, "saliency", {"output": "probabilities"}, seed=0, device="cpu"
    )
    np.testing.assert_allclose(attributions, expected, atol=1e-6)


@pytest.mark.parametrize("method", ["integrated_gradients", "deeplift", "gradientshap"])
@pytest.mark.parametrize("baseline", ["zeros", "train_mean"])
def test_linear_model_gets_weight_times_difference(linear_model, cells, method, baseline):
    x, target, background = cells
    reference = 0.0 if baseline == "zeros" else background.mean(0)
    attributions, _ = compute_attributions(
        linear_model,
        x,
        target,
        method,
        baseline_spec={"baseline": baseline},
        background=background,
        seed=0,
        device="cpu",
    )
    expected = _weights(linear_model)[target] * (x - reference)
    np.testing.assert_allclose(attributions, expected, atol=1e-4)


def test_deepshap_on_linear_model_measures_from_background_mean(linear_model, cells):
    x, target, background = cells
    attributions, info = compute_attributions(
        linear_model,
        x,
        target,
        "deepshap",
        baseline_spec={"n_baseline_samples": len(background)},
        background=background,
        seed=0,
        device="cpu",
    )
    assert info["n_baseline_rows"] == len(background)
    expected = _weights(linear_model)[target] * (x - background.mean(0))
    np.testing.assert_allclose(attributions, expected, atol=1e-4)


@pytest.mark.parametrize(
    ("method", "params", "tolerance"),
    [("integrated_gradients", {"n_steps": 200}, 1e-3), ("deeplift", {}, 1e-5)],
)
def test_completeness_against_one_reference(mlp, cells, method, params, tolerance):
    x, target, background = cells
    attributions, _ = compute_attributions(
        mlp,
        x,
        target,
        method,
        params,
        {"baseline": "train_mean"},
        background=background,
        seed=0,
        device="cpu",
    )
    reference = np.tile(background.mean(0), (N_CELLS, 1))
    gap = _target_output(mlp, x, target) - _target_output(mlp, reference, target)
    np.testing.assert_allclose(attributions.sum(1), gap, atol=tolerance)


def test_deepshap_completeness_against_background_mean(mlp, cells):
    x, target, background = cells
    attributions, info = compute_attributions(
        mlp,
        x,
        target,
        "deepshap",
        baseline_spec={"n_baseline_samples": len(background)},
        background=background,
        seed=3,
        device="cpu",
    )
    assert info["n_baseline_rows"] == len(background)
    expected = _target_output(mlp, x, target) - _outputs(mlp, background)[:, target].mean(0)
    np.testing.assert_allclose(attributions.sum(1), expected, atol=1e-5)


def test_captum_methods_are_independent_of_chunking(mlp, cells):
    x, target, background = cells
    results = [
        compute_attributions(
            mlp,
            x,
            target,
            "integrated_gradients",
            {"batch_size": batch_size},
            seed=0,
            device="cpu",
        )[0]
        for batch_size in (50, 100_000)
    ]
    np.testing.assert_allclose(results[0], results[1], atol=1e-6)
