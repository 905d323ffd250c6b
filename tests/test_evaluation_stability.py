"""Stability metrics: smooth explanations are stable, exact ones have no infidelity, runs repeat."""

import numpy as np
import pandas as pd
import pytest
import torch
from captum.attr import Saliency
from torch import nn

from scrobin.errors import ScrobinError
from scrobin.evaluation.figures import plot_stability
from scrobin.evaluation.stability import stability_scores

N_GENES, N_CLASSES = 20, 3


@pytest.fixture(scope="module")
def linear_case():
    torch.manual_seed(0)
    model = nn.Linear(N_GENES, N_CLASSES)
    x = torch.rand(40, N_GENES) + 0.5
    with torch.no_grad():
        target = model(x).argmax(dim=1)
    return model, x, target


def _gradient_times_input(model):
    """Exact contributions to a logit of a linear model: x_j * W_tj (bias is the baseline)."""
    return lambda x, target, cells: x * model.weight[target].detach()


def test_smooth_explanation_has_small_finite_sensitivity(linear_case):
    model, x, target = linear_case
    smooth = stability_scores(model, _gradient_times_input(model), x, target, n_cells=16,
                              perturb_radius=0.02, output="logits")
    assert np.isfinite(smooth["sensitivity_max"])
    assert 0.0 < smooth["sensitivity_max"] < 0.1
    noisy = stability_scores(model, lambda x, target, cells: torch.randn_like(x), x, target, n_cells=16,
                             output="logits")
    assert noisy["sensitivity_max"] > 1.0
    assert smooth["n_cells"] == 16


def test_exact_attributions_have_zero_infidelity_and_random_ones_do_not(linear_case):
    model, x, target = linear_case
    exact = stability_scores(model, _gradient_times_input(model), x, target, output="logits",
                             multiply_by_inputs=True, removal_fraction=0.3)
    assert exact["infidelity"] < 1e-8
    shuffled = stability_scores(model, lambda x, t, cells: torch.rand_like(x), x, target, output="logits",
                                multiply_by_inputs=True, removal_fraction=0.3)
    assert shuffled["infidelity"] > 1e-3


def test_gradient_explanations_run_although_captum_disables_grad(linear_case):
    model, x, target = linear_case
    saliency = Saliency(model)
    scores = stability_scores(
        model, lambda x, target, cells: saliency.attribute(x.requires_grad_(), target=target, abs=False),
        x, target, multiply_by_inputs=False, output="logits", n_cells=8)
    # A linear model's gradient is its weight row: constant in x, and exact for additive noise.
    assert scores["sensitivity_max"] == pytest.approx(0.0, abs=1e-6)
    assert scores["infidelity"] < 1e-8


def test_scores_repeat_with_the_seed_and_change_with_another(linear_case):
    model, x, target = linear_case
    explain = _gradient_times_input(model)
    first = stability_scores(model, explain, x, target, n_cells=10, seed=1)
    assert first == stability_scores(model, explain, x, target, n_cells=10, seed=1)
    assert first != stability_scores(model, explain, x, target, n_cells=10, seed=2)


def test_bad_options_are_one_line_errors(linear_case):
    model, x, target = linear_case
    with pytest.raises(ScrobinError, match="output 'loss' is unknown"):
        stability_scores(model, _gradient_times_input(model), x, target, output="loss")
    with pytest.raises(ScrobinError, match="3 targets were given for 40 cells"):
        stability_scores(model, _gradient_times_input(model), x, target[:3])


def test_stability_figure(tmp_path):
    table = pd.DataFrame({"method": ["saliency", "saliency", "deeplift", "deeplift"],
                          "regime": ["standard", "pgd"] * 2,
                          "sensitivity_max": [0.3, 0.1, 0.2, 0.05],
                          "infidelity": [0.02, 0.01, 0.03, 0.02]})
    path = plot_stability(table, tmp_path / "stability.png")
    assert path.exists() and path.stat().st_size > 0


@pytest.mark.parametrize(
    "method, entry, multiplied",
    [
        ("integrated_gradients", {}, True),
        ("integrated_gradients", {"multiply_by_inputs": False}, False),
        ("saliency", {}, False),
        ("kernelshap", {"n_samples": 64}, True),
        ("activation_maximization", {"steps": 2}, False),
    ],
)
def test_stability_perturbation_follows_the_method_spec(monkeypatch, method, entry, multiplied):
    """Path-averaged gradients (IG without multiply_by_inputs) are scored like saliency, not as
    input-multiplied contributions: the method's own spec decides, given its parameters."""
    import anndata as ad

    from scrobin.evaluation import jobs, stability

    seen = {}

    def fake_scores(model, explain, x, target, **settings):
        seen.update(settings)
        return {"sensitivity_max": 0.0, "infidelity": 0.0, "n_cells": len(x)}

    monkeypatch.setattr(stability, "stability_scores", fake_scores)
    rng = np.random.default_rng(0)
    prepared = ad.AnnData(
        X=rng.standard_normal((12, 6)).astype(np.float32),
        obs=pd.DataFrame({"cell_type": pd.Categorical(["a", "b", "c"] * 4),
                          "split": ["train", "test"] * 6}, index=[f"c{i}" for i in range(12)]),
    )
    settings = {"stability_cells": 4, "stability_perturbations": 2, "stability_radius": 0.02}
    jobs.regime_stability(nn.Linear(6, 3), prepared, {method: entry}, "standard", settings, 0, "cpu")
    assert seen["multiply_by_inputs"] is multiplied


def test_standard_errors_shrink_with_more_cells(linear_case):
    model, x, target = linear_case
    noisy = lambda cells, target, scored: torch.randn_like(cells)  # noqa: E731
    few = stability_scores(model, noisy, x, target, n_cells=4, n_perturb_samples=2)
    many = stability_scores(model, noisy, x, target, n_cells=40, n_perturb_samples=2)
    for metric in ("sensitivity_max", "infidelity"):
        assert few[f"{metric}_se"] == pytest.approx(few[f"{metric}_sd"] / 2.0)
        assert many[f"{metric}_se"] < few[f"{metric}_se"] * 2
        assert many[f"{metric}_se"] == pytest.approx(many[f"{metric}_sd"] / np.sqrt(40))


@pytest.mark.parametrize("method", ["kernelshap", "lime"])
def test_sampling_explainers_reuse_each_cells_design_on_its_perturbations(linear_case, method):
    """With no perturbation, only a change of design could move the explanation: there is none."""
    from scrobin.attribution import compute_attributions
    from scrobin.model.network import MLPClassifier

    _, x, target = linear_case
    torch.manual_seed(0)
    model = MLPClassifier(N_GENES, N_CLASSES, hidden_sizes=(16, 8)).eval()

    def explain(cells, target, scored):
        return torch.as_tensor(compute_attributions(
            model, cells.numpy(), target.numpy(), method, {"n_samples": 60}, seed=0, device="cpu",
            design_of_cell=scored.numpy())[0])

    still = stability_scores(model, explain, x, target, n_cells=6, n_perturb_samples=3, perturb_radius=0.0)
    assert still["sensitivity_max"] == 0.0
    moved = stability_scores(model, explain, x, target, n_cells=6, n_perturb_samples=3, perturb_radius=0.5)
    assert moved["sensitivity_max"] > 0.0


def test_the_unperturbed_cells_are_explained_once(linear_case):
    # sensitivity_max explains the scored cells, then their perturbations; infidelity needs the
    # first explanation again and gets it without a third call.
    model, x, target = linear_case
    exact = _gradient_times_input(model)
    calls = []

    def counted(cells, target, scored):
        calls.append(cells.clone())
        return exact(cells, target, scored)

    scores = stability_scores(model, counted, x, target, n_cells=10, n_perturb_samples=3, seed=1)
    assert [len(call) for call in calls] == [10, 30]
    assert scores == stability_scores(model, exact, x, target, n_cells=10, n_perturb_samples=3, seed=1)
