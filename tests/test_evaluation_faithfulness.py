"""Deletion and insertion curves on a linear model whose true gene contributions are known."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from scrobin.errors import ScrobinError
from scrobin.evaluation.faithfulness import (
    faithfulness,
    gene_order_from_attributions,
    gene_order_from_ranking,
    k_grid,
    perturbation_curves,
)
from scrobin.evaluation.figures import plot_faithfulness
from scrobin.attribution.explained_model import input_layer_split
from scrobin.attribution.importance import cell_type_importance

N_GENES, N_CLASSES, N_CELLS = 60, 3, 90
TYPES = np.array(["A", "B", "C"], dtype=object)


@pytest.fixture(scope="module")
def linear_case():
    """Linear softmax model, positive expression, cells labelled with the model's prediction.

    The contribution of gene j to the margin of class t over the average class is
    x_j * (W_tj - mean_c W_cj): the ranking a perfect attribution would give.
    """
    torch.manual_seed(0)
    model = nn.Linear(N_GENES, N_CLASSES)
    with torch.no_grad():
        model.bias.zero_()
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 2.0, size=(N_CELLS, N_GENES)).astype(np.float32)
    with torch.no_grad():
        target = model(torch.as_tensor(x)).argmax(dim=1).numpy()
    weights = model.weight.detach().numpy().astype(np.float64)
    margin_weights = weights - weights.mean(axis=0, keepdims=True)
    true_attributions = x * margin_weights[target]
    return model, x, target, true_attributions, margin_weights


def test_true_contributions_beat_a_random_ranking(linear_case):
    model, x, target, true_attributions, _ = linear_case
    orders = {"true": gene_order_from_attributions(true_attributions)}
    curves, areas = faithfulness(model, x, target, orders, baseline=0.0, max_genes=30, n_steps=11,
                                 n_random=3, seed=0)
    areas = areas.set_index("ranking")
    assert areas.loc["true", "deletion_auc"] < areas.loc["random", "deletion_auc"] - 0.05
    assert areas.loc["true", "insertion_auc"] > areas.loc["random", "insertion_auc"] + 0.05
    assert areas.loc["true", "deletion_gain"] > 0 and areas.loc["true", "insertion_gain"] > 0
    assert areas.loc["random", "deletion_gain"] == 0.0
    assert set(curves["mode"]) == {"deletion", "insertion"}
    assert curves["fraction"].max() == 1.0 and curves["k"].max() == 30


def test_per_type_ranking_of_the_weights_beats_random(linear_case):
    model, x, target, _, margin_weights = linear_case
    genes = [f"g{j}" for j in range(N_GENES)]
    # One pseudo-cell per class carrying its margin weights: their importance ranks the weights.
    ranking = cell_type_importance(margin_weights, TYPES, genes)
    order = gene_order_from_ranking(ranking, genes, TYPES[target])
    _, areas = faithfulness(model, x, target, {"weights": order}, max_genes=30, n_steps=11)
    areas = areas.set_index("ranking")
    assert areas.loc["weights", "deletion_auc"] < areas.loc["random", "deletion_auc"]
    assert areas.loc["weights", "insertion_auc"] > areas.loc["random", "insertion_auc"]


@pytest.mark.parametrize(("network", "max_genes"), [("linear", None), ("mlp", None), ("mlp", 25)])
def test_vectorised_curves_match_a_per_cell_loop(linear_case, network, max_genes):
    model, x, target, true_attributions, _ = linear_case
    if network == "mlp":
        # Starts with a linear layer: the curves come from running sums of its columns.
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(N_GENES, 16), nn.ReLU(), nn.Linear(16, N_CLASSES))
    assert (input_layer_split(model) is not None) == (network == "mlp")
    order = gene_order_from_attributions(true_attributions[:7])
    ks = k_grid(N_GENES, max_genes=max_genes, n_steps=5)
    baseline = torch.full((N_GENES,), 0.5)
    inputs = torch.as_tensor(x[:7])
    curves = perturbation_curves(model, inputs, torch.as_tensor(target[:7]), order, baseline, ks)
    for cell in range(7):
        for step, k in enumerate(ks):
            top = order[cell, :k]
            deleted, inserted = inputs[cell].clone(), baseline.clone()
            deleted[top], inserted[top] = baseline[top], inputs[cell, top]
            with torch.no_grad():
                p_deleted = torch.softmax(model(deleted[None]), 1)[0, target[cell]].item()
                p_inserted = torch.softmax(model(inserted[None]), 1)[0, target[cell]].item()
            assert curves["deletion"][step, cell] == pytest.approx(p_deleted, abs=1e-6)
            assert curves["insertion"][step, cell] == pytest.approx(p_inserted, abs=1e-6)
    if max_genes is None:
        # All genes deleted is the baseline itself, all inserted is the cell itself.
        assert np.allclose(curves["deletion"][-1], curves["insertion"][0])
        assert np.allclose(curves["deletion"][0], curves["insertion"][-1])


def test_random_reference_is_seeded(linear_case):
    model, x, target, true_attributions, _ = linear_case
    orders = {"true": gene_order_from_attributions(true_attributions)}
    first = faithfulness(model, x, target, orders, seed=3, n_steps=6)[1]
    second = faithfulness(model, x, target, orders, seed=3, n_steps=6)[1]
    pd.testing.assert_frame_equal(first, second)


def test_k_grid_and_bad_inputs(linear_case):
    model, x, target, true_attributions, _ = linear_case
    assert list(k_grid(60, 100, 4)) == [0, 20, 40, 60]
    assert list(k_grid(1000, 100, 11)) == list(range(0, 101, 10))
    orders = {"true": gene_order_from_attributions(true_attributions)}
    with pytest.raises(ScrobinError, match="baseline must be a scalar or one value per gene"):
        faithfulness(model, x, target, orders, baseline=np.zeros(3))
    with pytest.raises(ScrobinError, match="'random' is reserved"):
        faithfulness(model, x, target, {"random": orders["true"]})
    with pytest.raises(ScrobinError, match="expected"):
        faithfulness(model, x[:5], target[:5], orders)


def test_faithfulness_figure_with_regimes(linear_case, tmp_path):
    model, x, target, true_attributions, _ = linear_case
    orders = {"true": gene_order_from_attributions(true_attributions)}
    curves = pd.concat([faithfulness(model, x, target, orders, n_steps=6, regime=regime)[0]
                        for regime in ("standard", "pgd")])
    path = plot_faithfulness(curves, tmp_path / "faithfulness.png")
    assert path.exists() and path.stat().st_size > 0
