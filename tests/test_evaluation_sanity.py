"""Sanity checks: explanations of a trained MLP change when it is randomised; a model-independent
"explanation" does not and is called so; the checks are seeded and leave the caller's state alone."""

import random

import numpy as np
import pytest
import torch
from torch import nn

from scrobin.attribution.registry import METHODS, MethodSpec
from scrobin.errors import ScrobinError
from scrobin.evaluation.sanity import (
    SANITY_COLUMNS,
    cascading_randomisation,
    random_other_class,
    sanity_checks,
    sanity_verdicts,
)
from scrobin.evaluation.config import SCHEMA as EVALUATION_SCHEMA
from scrobin.model.network import MLPClassifier
from scrobin.schema import section_defaults

# The workflow's defaults (the config schema: evaluation.sanity_*).
SAMPLING = section_defaults(EVALUATION_SCHEMA, "evaluation")["sanity_sampling_cells_per_type"]
THRESHOLD = section_defaults(EVALUATION_SCHEMA, "evaluation")["sanity_threshold"]

N_TYPES, CELLS_PER_TYPE, N_GENES, MARKERS_PER_TYPE = 3, 20, 60, 4


def input_itself(model, x, target, **_):
    """An "explanation" that ignores the model: the cell's own expression."""
    return x.copy()


@pytest.fixture
def model_free_method(monkeypatch):
    monkeypatch.setitem(METHODS, "input_itself", MethodSpec(f"{__name__}:input_itself", "The input itself.",
                                                            ("zeros",), "zeros"))
    return "input_itself"


@pytest.fixture(scope="module")
def trained():
    """An MLP (one hidden layer of 32) trained to 100% on planted markers: each type raises 4 genes."""
    rng = np.random.default_rng(0)
    target = np.repeat(np.arange(N_TYPES), CELLS_PER_TYPE)
    x = rng.normal(size=(len(target), N_GENES))
    for cell_type in range(N_TYPES):
        x[target == cell_type, cell_type * MARKERS_PER_TYPE:(cell_type + 1) * MARKERS_PER_TYPE] += 2.5
    x = x.astype(np.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = MLPClassifier(N_GENES, N_TYPES, hidden_sizes=(32,), dropout_after={})
        optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
        inputs, labels = torch.as_tensor(x), torch.as_tensor(target)
        for _ in range(150):
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(inputs), labels).backward()
            optimiser.step()
    model.eval()
    with torch.no_grad():
        assert (model(inputs).argmax(1) == labels).all()
    return model, x, target


def test_cascading_randomisation_redraws_layers_from_the_top_down(trained):
    model, _, _ = trained
    before = {name: value.clone() for name, value in model.state_dict().items()}
    copies = cascading_randomisation(model, seed=3)
    assert [name for name, _ in copies] == ["layers.2", "layers.0"]
    for depth, (_, network) in enumerate(copies, start=1):
        changed = {name for name, value in network.state_dict().items() if not torch.equal(value, before[name])}
        assert changed == ({"layers.2.weight", "layers.2.bias"} if depth == 1 else set(before))
    # A layer keeps its random draw at the later step; the trained model is untouched; the seed decides.
    assert torch.equal(copies[0][1].state_dict()["layers.2.weight"], copies[1][1].state_dict()["layers.2.weight"])
    assert all(torch.equal(value, before[name]) for name, value in model.state_dict().items())
    again = cascading_randomisation(model, seed=3)
    other = cascading_randomisation(model, seed=4)
    assert torch.equal(again[1][1].state_dict()["layers.0.weight"], copies[1][1].state_dict()["layers.0.weight"])
    assert not torch.equal(other[1][1].state_dict()["layers.0.weight"], copies[1][1].state_dict()["layers.0.weight"])


def test_random_other_class_is_never_the_own_and_covers_the_others():
    target = np.repeat(np.arange(4), 500)
    chosen = random_other_class(target, 4, np.random.default_rng(0))
    assert (chosen != target).all()
    for cell_type in range(4):
        counts = np.bincount(chosen[target == cell_type], minlength=4)
        assert counts[cell_type] == 0 and (counts[np.arange(4) != cell_type] > 130).all()
    with pytest.raises(ScrobinError, match="at least two classes"):
        random_other_class(target, 1, np.random.default_rng(0))


def test_gradient_explanations_change_with_the_model_and_the_input_itself_does_not(trained, model_free_method):
    model, x, target = trained
    methods = {"saliency": None, "integrated_gradients": ({"n_steps": 16}, None), model_free_method: None}
    table = sanity_checks(model, x, target, methods, seed=0, sampling_cells_per_type=SAMPLING)
    assert tuple(table.columns) == SANITY_COLUMNS
    assert len(table) == len(methods) * 3
    rows = table.set_index(["method", "step"])
    for method in ("saliency", "integrated_gradients"):
        # Full randomisation (both layers): the per-type ranking is no longer the trained one.
        assert rows.loc[(method, "layers.0"), "spearman_mean"] < 0.5
        assert rows.loc[(method, "layers.0"), "layers_randomised"] == 2
        assert rows.loc[(method, "random_logit"), "spearman_mean"] < 0.5
    model_free = rows.loc[model_free_method]
    np.testing.assert_allclose(model_free["spearman_mean"], 1.0)
    np.testing.assert_allclose(model_free["spearman_min"], 1.0)
    np.testing.assert_allclose(model_free["spearman_abs_mean"], 1.0)
    verdicts = sanity_verdicts(table, THRESHOLD).set_index("method")["verdict"]
    assert verdicts.to_dict() == {"saliency": "explains the model", "integrated_gradients": "explains the model",
                                  model_free_method: "explains the data"}


def test_sampling_methods_explain_fewer_cells_unless_the_full_check_is_asked(trained):
    model, x, target = trained
    methods = {"saliency": None, "kernelshap": ({"n_samples": 2 * N_GENES + 10}, None)}
    assert METHODS["kernelshap"].sampling and not METHODS["saliency"].sampling
    default = sanity_checks(model, x, target, methods, seed=0, sampling_cells_per_type=4)
    cells = default.groupby("method")["n_cells"].unique()
    assert list(cells["saliency"]) == [len(x)] and list(cells["kernelshap"]) == [4 * N_TYPES]
    full = sanity_checks(model, x, target, {"kernelshap": methods["kernelshap"]}, seed=0,
                         sampling_cells_per_type=4, full=True)
    assert set(full["n_cells"]) == {len(x)}
    assert (full["spearman_mean"] < 0.5).all()


def test_seeded_and_the_callers_random_state_is_left_alone(trained):
    model, x, target = trained
    methods = {"gradientshap": ({"n_samples": 8}, {"baseline": "zeros"}), "saliency": None}
    torch.manual_seed(123)
    np.random.seed(5)
    random.seed(9)
    torch.use_deterministic_algorithms(False)
    states = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    first = sanity_checks(model, x, target, methods, seed=1, sampling_cells_per_type=SAMPLING)
    assert torch.equal(torch.get_rng_state(), states[0])
    assert np.array_equal(np.random.get_state()[1], states[1]) and random.getstate() == states[2]
    assert not torch.are_deterministic_algorithms_enabled()
    measures = ["spearman_mean", "spearman_min", "n_cells"]
    again = sanity_checks(model, x, target, methods, seed=1, sampling_cells_per_type=SAMPLING)
    assert first[measures].equals(again[measures])
    other = sanity_checks(model, x, target, methods, seed=2, sampling_cells_per_type=SAMPLING)
    assert not first[measures].equals(other[measures])


def test_bad_input_is_a_one_line_error(trained):
    model, x, target = trained
    for call, message in [
        (lambda: sanity_checks(model, x, target, {}, sampling_cells_per_type=SAMPLING), "no methods were given"),
        (lambda: sanity_checks(model, x, target[:-1], {"saliency": None}, sampling_cells_per_type=SAMPLING), "one integer class index per cell"),
        (lambda: sanity_checks(model, x, target, {"salience": None}, sampling_cells_per_type=SAMPLING), "attribution method 'salience' is unknown"),
        (lambda: sanity_checks(model, x, target, {"saliency": None}, sampling_cells_per_type=0),
         "must be a positive integer"),
        (lambda: cascading_randomisation(nn.Sequential(nn.ReLU())), "no nn.Linear layer"),
    ]:
        with pytest.raises(ScrobinError, match=message) as error:
            call()
        assert "\n" not in str(error.value)


def test_verdicts_read_the_last_step_and_count_a_turned_around_ranking_as_surviving():
    import pandas as pd

    def rows(method, correlations):
        return [{"method": method, "check": "model_randomisation", "step": f"layer{depth}", "layers_randomised": depth,
                 "spearman_mean": rho, "spearman_min": rho, "spearman_abs_mean": abs(rho), "n_cells": 10,
                 "seconds": 0.1} for depth, rho in enumerate(correlations, start=1)]

    table = pd.DataFrame([*rows("model", [0.9, 0.1]), *rows("reversed", [0.2, -0.8]), *rows("flat", [0.5, np.nan]),
                          {"method": "model", "check": "random_logit", "step": "random_logit", "layers_randomised": 0,
                           "spearman_mean": -0.3, "spearman_min": -0.5, "spearman_abs_mean": 0.3, "n_cells": 10,
                           "seconds": 0.1}])
    verdicts = sanity_verdicts(table, THRESHOLD).set_index("method")
    assert verdicts["verdict"].to_dict() == {"model": "explains the model", "reversed": "explains the data",
                                             "flat": "undetermined"}
    assert verdicts.loc["model", "spearman_randomised"] == pytest.approx(0.1)
    assert verdicts.loc["model", "spearman_random_logit"] == pytest.approx(-0.3)
    assert np.isnan(verdicts.loc["reversed", "spearman_random_logit"])
    assert sanity_verdicts(table, threshold=0.05).set_index("method").loc["model", "verdict"] == "explains the data"
    with pytest.raises(ScrobinError, match="must lie in"):
        sanity_verdicts(table, threshold=1.5)
    with pytest.raises(ScrobinError, match="lacks column"):
        sanity_verdicts(table.drop(columns="spearman_abs_mean"), THRESHOLD)
