"""The attack budget: a configured number, or per dataset the largest structure-preserving eps."""

import json

import pytest

from scrobin.robustness.budget import attack_budget, attack_config_for, load_attack_budget, sweep_grid
from scrobin.errors import ScrobinError
from scrobin.robustness.eps_structure import figure_eps

SUMMARY = {"threshold": 0.85, "largest_structured_eps": 0.1, "scores": {"0.05": 0.95, "0.1": 0.88, "0.2": 0.7}}


def test_auto_takes_the_largest_structure_preserving_eps_and_says_why():
    budget = attack_budget({"eps": "auto"}, SUMMARY, "pbmc")
    assert budget["eps"] == 0.1
    assert budget["source"] == "eps_structure"
    assert budget["structure_score"] == 0.88
    assert "0.1" in budget["reason"] and "0.85" in budget["reason"]


def test_a_number_overrides_and_keeps_its_measured_score():
    budget = attack_budget({"eps": 0.2}, SUMMARY, "pbmc")
    assert (budget["eps"], budget["source"], budget["structure_score"]) == (0.2, "config", 0.7)
    assert attack_budget({"eps": 1.0}, None, "pbmc")["structure_score"] is None
    assert attack_config_for({"eps": "auto", "norm": "inf"}, budget) == {"eps": 0.2, "norm": "inf"}


def test_no_structure_preserving_eps_stops_with_the_fixes():
    summary = {"threshold": 0.9, "largest_structured_eps": None, "scores": {"0.5": 0.72, "1": 0.46}}
    with pytest.raises(ScrobinError) as error:
        attack_budget({"eps": "auto"}, summary, "lab")
    message = str(error.value)
    assert message.startswith("dataset 'lab': attack.eps is auto")
    assert "0.5: 0.72" in message and "1: 0.46" in message
    for fix in ("eps_structure.eps", "eps_structure.threshold", "attack.eps"):
        assert fix in message
    with pytest.raises(ScrobinError, match="run the eps_structure rule"):
        attack_budget({"eps": "auto"}, None, "lab")


def test_the_sweep_measures_the_budget_itself(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(SUMMARY))
    assert load_attack_budget({"eps": "auto"}, path, "pbmc")["eps"] == 0.1
    assert sweep_grid([0.25, 0.5], {"eps": "auto"}, path, "pbmc") == [0.1, 0.25, 0.5]
    assert sweep_grid([0.25, 0.5], {"eps": 0.3}, [], "pbmc") == [0.25, 0.3, 0.5]
    path.write_text(json.dumps({**SUMMARY, "largest_structured_eps": None}))
    assert sweep_grid([0.25, 0.5], {"eps": "auto"}, path, "pbmc") == [0.25, 0.5]


def test_figure_draws_few_panels_always_including_the_budget():
    grid = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 3.2]
    shown = figure_eps(grid, 0.05, 4)
    assert len(shown) == 4 and 0.05 in shown and shown[0] == 0.01 and shown[-1] == 3.2
    assert figure_eps(grid, None, 4) == sorted(figure_eps(grid, None, 4))
    assert figure_eps([0.5, 1.0], 0.5, 4) == [0.5, 1.0]
