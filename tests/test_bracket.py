"""The bracket of the true robust accuracy as the robustness rule tabulates it: certified below,
the strongest attack above, every single attack above that; radii; the comparison's columns; the
ibp regime."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_attacks import toy_problem

from scrobin.attacks.specs import validate_sweep
from scrobin.robustness.bracket import certified_radii, certified_rows, strongest_rows
from scrobin.robustness.table import radius_summary
from scrobin.robustness.sweep import robustness_sweep

EPS = [0.05, 0.2, 0.5, 1.0]
ATTACKS = [{"name": "fgsm", "params": {"norm": "inf"}}, {"name": "pgd", "params": {"norm": "inf", "iterations": 10}}]
STRONGEST = {"iterations": 30, "restarts": 1, "target_classes": 3}


@pytest.fixture(scope="module")
def tables():
    cells, labels, model = toy_problem()
    cells, labels = cells[:120], labels[:120]
    sweep = robustness_sweep(model, cells, labels, ATTACKS, EPS, device="cpu").assign(bound="upper")
    specs, _ = validate_sweep(ATTACKS, EPS)
    certified = certified_rows(model, cells, labels, EPS, ["ibp", "crown"])
    strongest = strongest_rows(model, cells, labels, EPS, specs, STRONGEST, seed=0)
    return pd.concat([sweep, certified, strongest], ignore_index=True), (model, cells, labels)


def test_every_attack_bounds_the_strongest_which_bounds_the_certificates(tables):
    table, _ = tables
    by = table.set_index(["attack", "eps"])["accuracy"]
    for eps in EPS:
        strongest = by[("strongest", eps)]
        attacks = [by[(attack, eps)] for attack in ("fgsm_linf", "pgd_linf", "apgd_ce", "apgd_t_dlr")]
        assert strongest <= min(attacks) + 1e-12
        assert by[("certified_ibp", eps)] <= by[("certified_crown", eps)] <= strongest
    assert set(table.loc[table["attack"].str.startswith("certified_"), "bound"]) == {"lower"}
    assert set(table.loc[~table["attack"].str.startswith("certified_"), "bound"]) == {"upper"}
    # The bracket is no formality on this model: the attacks and the certificate part somewhere.
    assert (by.xs("strongest", level="attack") > by.xs("certified_crown", level="attack").loc[EPS]).any()


def test_radii_are_certified_and_summarised_per_type(tables):
    from scrobin.attacks.bounds import certified

    _, (model, cells, labels) = tables
    radii = certified_radii(model, cells, labels, [f"type_{code}" for code in labels], "crown", 1.0, 0.01)
    assert len(radii) == len(cells) and (radii["radius"] >= 0).all() and (radii["radius"] <= 1.0).all()
    positive = radii["radius"].to_numpy() > 0
    assert certified(model, cells[positive], labels[positive], radii["radius"].to_numpy()[positive], "crown").all()
    summary = radius_summary(radii.assign(regime="standard"), ["regime", "cell_type"])
    assert set(summary["cell_type"]) == {f"type_{code}" for code in np.unique(labels)}
    assert (summary["radius_q25"] <= summary["radius_median"]).all()
    assert (summary["radius_median"] <= summary["radius_q75"]).all()


def test_the_comparison_reports_the_bracket_and_pgd_overstating():
    from scrobin.compare.summary import _robust_metrics

    sweep = pd.DataFrame([
        {"model": "standard", "attack": "pgd_linf", "eps": 0.2, "accuracy": 0.50, "macro_f1": 0.4},
        {"model": "standard", "attack": "strongest", "eps": 0.2, "accuracy": 0.42, "macro_f1": np.nan},
        {"model": "standard", "attack": "certified_crown", "eps": 0.2, "accuracy": 0.30, "macro_f1": np.nan},
    ])
    values = _robust_metrics(sweep, "standard", 0.2)
    assert values["robust_accuracy_strongest"] == 0.42 and values["certified_accuracy_crown"] == 0.30
    assert "robust_accuracy_certified_crown" not in values
    assert values["pgd_overstates"] == pytest.approx(0.08)


def test_the_ibp_regime_trains_a_model_certified_at_its_budget():
    """ibp is selectable like fgsm and pgd: fit_classifier trains it with the IBP loss at the budget."""
    from scrobin.attacks.bounds import certified
    from scrobin.config import validate_config
    from scrobin.data.model_input import split_cells
    from scrobin.data.prepare import prepare_dataset
    from scrobin.data.simulate import simulate
    from scrobin.model.classifier import fit_classifier
    from scrobin.runtime import resolve_device

    config = validate_config({
        "datasets": {"sim": {"source": "simulate", "simulation": {"n_cells": 240, "n_genes": 120, "n_cell_types": 3, "regulators_per_type": 4}}},
        "prepare": {"n_top_genes": 100, "min_gene_counts": 5}, "attack": {"eps": 0.1}, "robustness": {"eps_grid": [0.1]},
        "train": {"max_epochs": 25, "early_stopping_patience": 0}, "adversarial_training": {"regimes": ["ibp"]},
    })
    spec = config["datasets"]["sim"]
    prepared = prepare_dataset(simulate(**spec["simulation"]), "sim", spec, config["prepare"], seed=0)
    settings = {**config, "seed": 0, "attack": {**config["attack"], "eps": 0.1}}
    device = resolve_device("cpu")
    x, y = split_cells(prepared, "test")
    shares = {}
    for regime in ("standard", "ibp"):
        model = fit_classifier(prepared, settings, regime, device).model
        shares[regime] = certified(model, np.asarray(x), y, 0.1, "ibp").mean()
    assert shares["ibp"] > shares["standard"] + 0.2, shares
