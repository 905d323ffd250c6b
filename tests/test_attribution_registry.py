"""The method registry, config validation, baselines and the compute_attributions contract."""

import numpy as np
import pytest
import torch

from scrobin.attribution import (
    METHODS,
    compute_attributions,
    validate_baseline_spec,
    validate_method_config,
)
from scrobin.attribution.baselines import baseline_rows
from scrobin.errors import ScrobinError
from scrobin.model.network import MLPClassifier

N_GENES, N_CLASSES, N_CELLS = 10, 3, 6


@pytest.fixture
def mlp():
    torch.manual_seed(0)
    return MLPClassifier(N_GENES, N_CLASSES, hidden_sizes=(16, 8))


@pytest.fixture
def cells():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(N_CELLS, N_GENES)).astype(np.float32)
    target = rng.integers(0, N_CLASSES, N_CELLS)
    background = rng.normal(size=(25, N_GENES)).astype(np.float32)
    return x, target, background


def _one_line_error(call, *fragments):
    with pytest.raises(ScrobinError) as raised:
        call()
    message = str(raised.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    return message


def test_registry_holds_the_eight_methods_with_documented_parameters():
    assert set(METHODS) == {
        "saliency",
        "integrated_gradients",
        "deeplift",
        "deepshap",
        "gradientshap",
        "kernelshap",
        "lime",
        "activation_maximization",
    }
    for spec in METHODS.values():
        assert spec.description and spec.default_baseline in spec.baselines
        assert {"output", "batch_size"} <= set(spec.allowed_params)
        assert all(param.description for param in spec.all_params.values())


def test_unknown_method_lists_the_valid_ones():
    message = _one_line_error(lambda: validate_method_config("kernel_shap", {}), "'kernel_shap'")
    assert all(name in message for name in METHODS)


def test_unknown_parameter_is_named_with_the_valid_ones():
    _one_line_error(
        lambda: validate_method_config("integrated_gradients", {"steps": 20}),
        "'steps'",
        "n_steps",
        "multiply_by_inputs",
    )


@pytest.mark.parametrize(
    ("method", "params", "fragment"),
    [
        ("integrated_gradients", {"n_steps": 0}, "positive integer"),
        ("saliency", {"gradient_of": "gradient"}, "class, loss, both"),
        ("saliency", {"absolute": "yes"}, "true or false"),
        ("lime", {"kernel_width": -1.0}, "> 0"),
        ("kernelshap", {"output": "softmax"}, "logits, probabilities"),
    ],
)
def test_bad_parameter_value_is_named(method, params, fragment):
    (name,) = params
    _one_line_error(lambda: validate_method_config(method, params), f"'{name}'", fragment)


def test_defaults_are_filled_and_given_values_kept():
    effective = validate_method_config("lime", {"n_samples": 300.0})
    assert effective["n_samples"] == 300 and isinstance(effective["n_samples"], int)
    assert effective["kernel_width"] == 0.25 and effective["output"] == "logits"
    assert validate_method_config("kernelshap", None)["n_samples"] is None


def test_baseline_spec_defaults_and_refusals():
    assert validate_baseline_spec("deepshap", None) == {
        "baseline": "train_sample",
        "n_baseline_samples": 100,
    }
    assert validate_baseline_spec("integrated_gradients", {})["baseline"] == "zeros"
    _one_line_error(
        lambda: validate_baseline_spec("deeplift", {"baseline": "train_sample"}),
        "'deeplift'",
        "zeros, train_mean",
    )
    _one_line_error(lambda: validate_baseline_spec("lime", {"baselines": "zeros"}), "'baselines'")
    _one_line_error(
        lambda: validate_baseline_spec("lime", {"n_baseline_samples": 0}), "n_baseline_samples"
    )


def test_baseline_rows():
    background = np.arange(40, dtype=np.float32).reshape(8, 5)
    generator = np.random.default_rng(0)
    np.testing.assert_array_equal(baseline_rows("zeros", 3, 5, None, generator), np.zeros((1, 5)))
    np.testing.assert_allclose(
        baseline_rows("train_mean", 3, 5, background, generator), background.mean(0, keepdims=True)
    )
    sample = baseline_rows("train_sample", 3, 5, background, np.random.default_rng(7))
    again = baseline_rows("train_sample", 3, 5, background, np.random.default_rng(7))
    np.testing.assert_array_equal(sample, again)
    assert sample.shape == (3, 5) and len({tuple(row) for row in sample}) == 3
    assert all((row == background).all(1).any() for row in sample)
    assert len(baseline_rows("train_sample", 100, 5, background, generator)) == 8


def test_training_baselines_need_matching_background(mlp, cells):
    x, target, background = cells
    _one_line_error(
        lambda: compute_attributions(mlp, x, target, "deepshap", seed=0, device="cpu"),
        "train_sample",
        "background",
    )
    _one_line_error(
        lambda: compute_attributions(
            mlp,
            x,
            target,
            "lime",
            baseline_spec={"baseline": "train_mean"},
            background=background[:, :4],
            device="cpu",
        ),
        "10 genes",
    )


def test_bad_cells_and_targets_are_one_line_errors(mlp, cells):
    x, target, _ = cells
    _one_line_error(
        lambda: compute_attributions(mlp, x, target + N_CLASSES, "saliency", device="cpu"),
        "0..2",
    )
    _one_line_error(
        lambda: compute_attributions(mlp, x, target[:3], "saliency", device="cpu"), "one integer"
    )
    _one_line_error(
        lambda: compute_attributions(mlp, x[:, :4], target, "saliency", device="cpu"), "4 genes"
    )
    with_nan = x.copy()
    with_nan[0, 0] = np.nan
    _one_line_error(
        lambda: compute_attributions(mlp, with_nan, target, "saliency", device="cpu"), "NaN"
    )


def test_info_reports_effective_settings_and_runtime(mlp, cells):
    x, target, background = cells
    attributions, info = compute_attributions(
        mlp,
        x,
        target,
        "gradientshap",
        {"n_samples": 10},
        {"n_baseline_samples": 5},
        background=background,
        seed=4,
        device="cpu",
    )
    assert attributions.shape == x.shape and attributions.dtype == np.float32
    assert info["method"] == "gradientshap" and info["seed"] == 4 and info["device"] == "cpu"
    assert info["params"] == {
        "n_samples": 10,
        "stdevs": 0.0,
        "output": "logits",
        "batch_size": 8192,
    }
    assert info["baseline"] == {"baseline": "train_sample", "n_baseline_samples": 5}
    assert info["n_baseline_rows"] == 5 and info["runtime_seconds"] > 0
    assert "layers" not in info


def test_model_state_is_restored(mlp, cells):
    x, target, _ = cells
    mlp.train()
    compute_attributions(mlp, x, target, "deeplift", device="cpu")
    assert mlp.training and all(parameter.requires_grad for parameter in mlp.parameters())


@pytest.mark.parametrize("method", sorted(METHODS))
def test_seed_fixes_every_method(mlp, cells, method):
    x, target, background = cells
    small = {
        "integrated_gradients": {"n_steps": 8},
        "gradientshap": {"n_samples": 8},
        "kernelshap": {"n_samples": 40},
        "lime": {"n_samples": 40},
        "activation_maximization": {"steps": 10},
    }.get(method, {})
    baseline = {"n_baseline_samples": 4}

    def run():
        return compute_attributions(
            mlp, x, target, method, small, baseline, background=background, seed=5, device="cpu"
        )[0]

    first, second = run(), run()
    assert np.isfinite(first).all() and np.abs(first).sum() > 0
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("method", ["gradientshap", "deepshap"])
def test_background_sampling_follows_the_seed(mlp, cells, method):
    x, target, background = cells

    def run(seed):
        return compute_attributions(
            mlp,
            x,
            target,
            method,
            baseline_spec={"n_baseline_samples": 4},
            background=background,
            seed=seed,
            device="cpu",
        )[0]

    assert not np.allclose(run(0), run(1))


@pytest.mark.parametrize(
    "method, entry, needs",
    [
        ("saliency", {}, False),
        ("integrated_gradients", {}, False),
        ("integrated_gradients", {"baseline": "train_mean"}, True),
        ("deepshap", {}, True),
        ("gradientshap", {"baseline": "zeros"}, False),
    ],
)
def test_a_method_declares_whether_it_needs_training_cells(method, entry, needs):
    """The spec answers from the method's baseline (its default when the entry sets none)."""
    from scrobin.attribution.registry import method_spec
    from scrobin.attribution.registry import split_method_entry

    _, baseline = split_method_entry(method, entry)
    assert method_spec(method).needs_background(baseline) is needs


def test_integrated_gradients_without_input_multiplication_is_a_slope():
    """multiply_by_inputs: false gives path-averaged gradients, which the spec reports as not input-multiplied."""
    from scrobin.attribution.registry import method_spec

    spec = method_spec("integrated_gradients")
    assert spec.multiplies_by_inputs({}) is True
    assert spec.multiplies_by_inputs({"multiply_by_inputs": False}) is False
