"""Robustness sweep tables for the network and the logistic baseline, and their figure."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from test_attacks import accuracy, toy_problem

from scrobin.attacks.gradient import pgd
from scrobin.model.logistic import fit_logistic_baseline
from scrobin.errors import ScrobinError
from scrobin.robustness.sweep import (
    TABLE_COLUMNS,
    baseline_robustness_sweep,
    robustness_sweep,
)
from scrobin.inference import predict_classes
from scrobin.robustness.plots import plot_radii, plot_robustness_curves

EPS_GRID = [0.0, 0.3, 0.6, 1.2]
ATTACKS = [
    {"name": "fgsm"},
    {"name": "pgd", "params": {"iterations": 5}},
    {"name": "ProjectedGradientDescent", "backend": "art", "label": "art_pgd",
     "params": {"eps_step": 0.3, "max_iter": 5}},
]


@pytest.fixture(scope="module")
def sweep() -> pd.DataFrame:
    cells, labels, model = toy_problem()
    return robustness_sweep(model, cells, labels, ATTACKS, EPS_GRID, device="cpu", batch_size=128, seed=0)


def test_sweep_table_has_a_clean_row_and_one_row_per_attack_and_eps(sweep):
    cells, labels, model = toy_problem()
    assert list(sweep.columns) == list(TABLE_COLUMNS)
    assert len(sweep) == len(ATTACKS) * len(EPS_GRID)
    assert sweep.groupby("attack")["eps"].apply(list).to_dict() == {
        "fgsm_linf": EPS_GRID, "pgd_linf": EPS_GRID, "art_pgd": EPS_GRID,
    }
    clean_rows = sweep[sweep["eps"] == 0]
    assert (clean_rows["accuracy"] == accuracy(model, cells, labels)).all()
    assert (sweep["n_cells"] == len(cells)).all()
    assert set(sweep["norm"]) == {"inf"}
    # Every accuracy, the clean one included, carries its Wilson interval.
    assert sweep[["accuracy_ci_low", "accuracy_ci_high"]].notna().all().all()
    assert ((sweep["accuracy_ci_low"] <= sweep["accuracy"]) & (sweep["accuracy"] <= sweep["accuracy_ci_high"])).all()


def test_sweep_accuracy_falls_with_eps(sweep):
    for _, curve in sweep.groupby("attack"):
        accuracies = curve.sort_values("eps")["accuracy"].to_numpy()
        assert np.all(np.diff(accuracies) <= 0.02)
        assert accuracies[-1] < accuracies[0] - 0.5
    assert (sweep["macro_f1"] <= sweep["accuracy"] + 0.05).all()


def test_sweep_attacks_the_model_it_evaluates(sweep):
    cells, labels, model = toy_problem()
    crafted = pgd(model, cells, labels, eps=0.6, iterations=5)
    row = sweep[(sweep["attack"] == "pgd_linf") & (sweep["eps"] == 0.6)]
    assert row["accuracy"].item() == accuracy(model, crafted, labels)


def test_native_and_art_pgd_agree_inside_the_sweep():
    cells, labels, model = toy_problem()
    specs = [
        {"name": "pgd", "params": {"iterations": 5, "step_size": 0.1}},
        {"name": "ProjectedGradientDescent", "backend": "art", "params": {"eps_step": 0.1, "max_iter": 5}},
    ]
    table = robustness_sweep(model, cells, labels, specs, [0.6], device="cpu")
    by_attack = table[table["eps"] == 0.6].set_index("attack")["accuracy"]
    assert 0.05 < by_attack["pgd_linf"] < 0.95
    assert by_attack["pgd_linf"] == by_attack["ProjectedGradientDescent"]


def test_sparse_cells_give_the_same_tables_as_dense():
    cells, labels, model = toy_problem()
    baseline = fit_logistic_baseline(sp.csr_matrix(cells), labels)
    for run in (
        lambda x: robustness_sweep(model, x, labels, ATTACKS[:1], [0.6], device="cpu"),
        lambda x: baseline_robustness_sweep(baseline, x, labels, ATTACKS[:1], [0.6]),
    ):
        pd.testing.assert_frame_equal(run(sp.csr_matrix(cells)), run(cells))


def test_predict_classes_restores_train_mode():
    cells, labels, model = toy_problem()
    model.train()
    predicted = predict_classes(model, cells, batch_size=64)
    assert model.training
    assert (predicted == labels).mean() == accuracy(model.eval(), cells, labels)


def test_baseline_sweep_has_the_same_shape_and_loses_accuracy(caplog):
    cells, labels, _ = toy_problem()
    baseline = fit_logistic_baseline(cells, labels, seed=0)
    with caplog.at_level(logging.INFO):
        table = baseline_robustness_sweep(baseline, cells, labels, ATTACKS[:2], EPS_GRID)
    assert list(table.columns) == list(TABLE_COLUMNS)
    # Attacked through ART, and without ART's FGM line that reports 0% success whatever happened.
    assert (table["backend"] == "art").all()
    assert not [record for record in caplog.records if "Success rate of FGM" in record.getMessage()]
    assert len(table) == 2 * len(EPS_GRID)
    clean = table[table["eps"] == 0]["accuracy"]
    strongest = table[table["eps"] == max(EPS_GRID)]["accuracy"]
    assert (clean > 0.95).all()
    assert (strongest < clean.to_numpy() - 0.5).all()


@pytest.mark.parametrize(
    ("attacks", "eps_grid", "mentions"),
    [
        ([], [0.1], "no attacks"),
        ([{"name": "pgd", "params": {"eps": 1.0}}], [0.1], "eps_grid"),
        ([{"name": "pgd"}], [], "eps_grid"),
        ([{"name": "pgd"}], [-0.5], "eps_grid value"),
        ([{"name": "pgd"}], "0.5", "eps_grid"),
        ([{"name": "DeepFool", "backend": "art"}], [0.1], "cannot be swept"),
        ([{"name": "pgd"}, {"name": "pgd", "params": {"iterations": 3}}], [0.1], "distinct label"),
    ],
)
def test_bad_sweeps_are_refused_before_attacking(attacks, eps_grid, mentions):
    cells, labels, model = toy_problem()
    with pytest.raises(ScrobinError, match=mentions):
        robustness_sweep(model, cells, labels, attacks, eps_grid, device="cpu")


def test_curves_plot_every_attack_and_model(sweep, tmp_path):
    path = tmp_path / "curves.png"
    sweeps = pd.concat([sweep.assign(model="standard"), sweep.iloc[:4].assign(model="other")])
    figure = plot_robustness_curves(sweeps, path)
    assert path.stat().st_size > 10_000
    assert [axis.get_title() for axis in figure.axes] == ["fgsm_linf", "pgd_linf", "art_pgd"]
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["standard", "other"]
    assert not figure.axes[0].collections  # one seed: no band
    with pytest.raises(ScrobinError, match="metric"):
        plot_robustness_curves(sweeps, path, metric="auc")


def test_the_bracket_panel_keeps_its_legends_off_the_curves_and_eps_reads_from_zero(sweep, tmp_path):
    certified = sweep.assign(attack="certified_crown", name="crown", bound="lower", accuracy=sweep["accuracy"] / 2)
    sweeps = pd.concat([sweep.assign(bound="upper"), certified]).assign(model="standard")
    figure = plot_robustness_curves(sweeps, tmp_path / "bracket.png")
    assert figure.axes[-1].get_title() == "true robust accuracy: the bracket"
    assert all(axis.get_legend() is None for axis in figure.axes)  # both legends sit outside the panels
    assert sorted(legend.get_title().get_text() for legend in figure.legends) == ["bracket", "model"]
    ticks = figure.axes[0].get_xticks()
    positive = sorted(set(sweeps.loc[sweeps["eps"] > 0, "eps"]))
    assert ticks[0] == 0 and ticks[1] == positive[0] and ticks[-1] <= positive[-1]
    assert figure.axes[0].get_xscale() == "symlog"
    figure = plot_robustness_curves(sweeps, tmp_path / "bracket.png", budget=positive[0])
    assert all(any(list(line.get_xdata()) == [positive[0]] * 2 for line in axis.get_lines()) for axis in figure.axes)


def test_radii_are_drawn_per_type_and_regime_with_the_budget(tmp_path):
    radii = pd.DataFrame({"regime": ["standard"] * 4 + ["pgd"] * 4, "cell_type": ["B", "B", "T", "T"] * 2,
                          "radius": [0.0, 0.1, 0.2, 0.3, 0.1, 0.2, 0.3, 0.4], "method": "crown"})
    figure = plot_radii(radii, tmp_path / "radii.png", budget=0.25)
    axis = figure.axes[0]
    assert [label.get_text() for label in axis.get_xticklabels()] == ["B", "T"]
    assert [text.get_text() for text in axis.get_legend().get_texts()] == ["standard", "pgd", "attack budget (0.25)"]
    assert (tmp_path / "radii.png").stat().st_size > 5_000
    empty = plot_radii(radii.iloc[:0], tmp_path / "none.png")
    assert "certified_radius is off" in empty.axes[0].texts[0].get_text()


def test_curves_of_replicates_show_their_mean_and_range(sweep, tmp_path):
    lower = sweep.assign(model="standard", seed=0, accuracy=sweep["accuracy"] * 0.5)
    figure = plot_robustness_curves(pd.concat([lower, sweep.assign(model="standard", seed=1)]), tmp_path / "c.png")
    line = figure.axes[0].get_lines()[0]
    expected = pd.concat([lower, sweep]).query("attack == 'fgsm_linf'").groupby("eps")["accuracy"].mean()
    assert list(line.get_ydata()) == pytest.approx(list(expected))
    assert figure.axes[0].collections  # the band from the smaller to the larger seed
    assert "2 seeds" in figure._suptitle.get_text()
