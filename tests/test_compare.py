"""The cross-dataset comparison on small tables written in the workflow's output layout."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from scrobin.compare.figure import plot_comparison
from scrobin.compare.results import INPUT_KINDS, load_results
from scrobin.compare.summary import closest_eps_rows, compare_run, method_table
from scrobin.errors import ScrobinError

REGIMES = ["standard", "pgd"]
METHODS = ["saliency", "lime"]


def write_tsv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)


def write_json(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


def robustness_rows(model: str, accuracies: dict[float, float]) -> list[dict]:
    return [
        {"model": model, "attack": attack, "name": attack.split("_")[0], "backend": "native", "norm": "inf",
         "eps": eps, "accuracy": accuracy - offset, "macro_f1": (accuracy - offset) / 2, "n_cells": 40}
        for attack, offset in (("fgsm_linf", 0.0), ("pgd_linf", 0.1))
        for eps, accuracy in accuracies.items()
    ]


def write_dataset(root: Path, name: str, simulated: bool, markers: str | None = None,
                  seeds: tuple[int, ...] = (0,)) -> dict[str, list[Path]]:
    """A finished dataset: pgd better than standard everywhere, so each value is traceable.

    Simulated data get recovery and no enrichment; real data get enrichment, and recovery too when
    they have a ``markers`` file. Each later seed adds 0.02 to its accuracies. Returns the compare
    rule's named inputs for this dataset.
    """
    folder = root / name
    inputs = {kind: [] for kind in INPUT_KINDS}

    def table(kind: str, relative: str, rows: list[dict]) -> None:
        write_tsv(folder / relative, [{"dataset": name, **row} for row in rows])
        inputs[kind].append(folder / relative)

    for index, seed in enumerate(seeds):
        for regime, accuracy in (("standard", 0.9), ("pgd", 0.85)):
            path = folder / f"seed{seed}/metrics/{regime}.json"
            write_json(path, {"dataset": name, "regime": regime, "seed": seed, "accuracy": accuracy + 0.02 * index,
                              "macro_f1": accuracy - 0.05})
            inputs["metrics"].append(path)
    robustness = robustness_rows("logreg", {0.0: 0.8, 0.5: 0.2})
    for index, seed in enumerate(seeds):
        shift = 0.02 * index
        robustness += [{**row, "seed": seed} for row in robustness_rows("standard", {0.0: 0.9 + shift, 0.5: 0.3 + shift, 1.5: 0.1 + shift})
                       + robustness_rows("pgd", {0.0: 0.85 + shift, 0.5: 0.7 + shift, 1.5: 0.5 + shift})]
    table("robustness", "robustness/summary.tsv", robustness)
    write_json(folder / "eps_structure/summary.json", {"dataset": name, "threshold": 0.9, "largest_structured_eps": 1.0})
    inputs["structure"].append(folder / "eps_structure/summary.json")
    rankings = [*METHODS, "consensus"]
    table("faithfulness", "evaluation/faithfulness.tsv", [
        {"seed": seed, "regime": regime, "ranking": ranking, "deletion_auc": 0.5 - gain, "insertion_auc": 0.5 + gain / 2,
         "deletion_gain": gain, "insertion_gain": gain / 2, "n_cells": 10}
        for seed in seeds
        for regime, scale in (("standard", 0.1), ("pgd", 0.2))
        for ranking, gain in [*zip(rankings, (scale, 2 * scale, 3 * scale)), ("random", 0.0)]
    ])
    table("stability", "evaluation/stability.tsv", [
        {"seed": seed, "regime": regime, "method": method, "sensitivity_max": value, "sensitivity_max_sd": 0.0,
         "infidelity": value / 10, "infidelity_sd": 0.0, "n_cells": 10}
        for seed in seeds
        for regime, scale in (("standard", 1.0), ("pgd", 0.5))
        for method, value in zip(METHODS, (scale, 3 * scale))
    ])
    table("de_overlap", "evaluation/de_overlap.tsv", [
        {"seed": seed, "regime": regime, "cell_type": cell_type, "n_genes": 50, "n_baseline": 10, "n_ranked": 20,
         "overlap": overlap, "expected": 4.0, "p_value": 0.01}
        for seed in seeds for regime in REGIMES for cell_type, overlap in (("A", 3), ("all types", 7))
    ])
    if simulated or markers:
        table("recovery", "evaluation/recovery.tsv", [
            {"seed": seed, "regime": regime, "key_genes_source": f"markers: {markers}" if markers else "simulation",
             "method": method, "cell_type": cell_type, "n_genes": 50, "n_key_genes": 6,
             "top_n": 10, "recovered": recovered + (1 if regime == "pgd" else 0), "expected": 1.2,
             "p_value": 0.5 / (recovered + 1), "precision_at_n": 0.1, "recall_at_n": 0.2,
             "auprc": recovered / 10, "auprc_chance": 0.12}
            for seed in seeds
            for regime in REGIMES
            for method, recovered in (("saliency", 2), ("lime", 4), ("consensus", 5), ("DE (wilcoxon)", 6))
            for cell_type in ("A", "all types")
        ])
    if not simulated:
        for seed in seeds:
            for regime, n_significant in (("standard", 2), ("pgd", 0)):
                path = folder / f"seed{seed}/enrichment/{regime}.json"
                write_json(path, {"dataset": name, "regime": regime, "seed": seed, "significant_terms": n_significant,
                                  "backend": "gmt", "fallback_reason": "offline"})
                inputs["enrichment"].append(path)
    return inputs


def merged(*inputs: dict[str, list[Path]]) -> dict[str, list[Path]]:
    return {kind: [path for one in inputs for path in one.get(kind, [])] for kind in INPUT_KINDS}


@pytest.fixture
def results_dir(tmp_path) -> Path:
    return tmp_path


@pytest.fixture
def inputs(results_dir) -> dict[str, list[Path]]:
    return merged(write_dataset(results_dir, "sim", simulated=True), write_dataset(results_dir, "real", simulated=False))


def summary_row(summary: pd.DataFrame, dataset: str, regime: str) -> pd.Series:
    rows = summary[(summary["dataset"] == dataset) & (summary["regime"] == regime)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_closest_eps_picks_the_nearest_attacked_row_and_the_smaller_eps_on_a_tie():
    table = pd.DataFrame(robustness_rows("standard", {0.0: 0.9, 0.25: 0.6, 0.75: 0.4, 2.0: 0.1})
                         + robustness_rows("pgd", {0.0: 0.8, 0.5: 0.7}))
    assert list(closest_eps_rows(table, "standard", 0.5)["eps"]) == [0.25, 0.25]
    assert list(closest_eps_rows(table, "standard", 0.8)["eps"]) == [0.75, 0.75]
    # eps 0 holds clean metrics, never robustness, even when asked for a tiny eps.
    nearest_to_zero = closest_eps_rows(table, "standard", 0.01)
    assert list(nearest_to_zero["attack"]) == ["fgsm_linf", "pgd_linf"]
    assert list(nearest_to_zero["accuracy"]) == pytest.approx([0.6, 0.5])
    assert closest_eps_rows(table, "fgsm", 0.5).empty


def test_closest_eps_names_missing_columns():
    with pytest.raises(ScrobinError, match="eps"):
        closest_eps_rows(pd.DataFrame({"model": ["standard"], "attack": ["fgsm_linf"]}), "standard", 0.5)


def test_summary_holds_every_stage_per_dataset_and_regime(inputs):
    summary = compare_run(inputs, ["sim", "real"], REGIMES, METHODS, attack={"eps": 1.2}).summary
    assert list(zip(summary["dataset"], summary["regime"])) == [
        ("sim", "standard"), ("sim", "pgd"), ("real", "standard"), ("real", "pgd")]
    sim_pgd = summary_row(summary, "sim", "pgd")
    assert sim_pgd["n_seeds"] == 1
    assert not [column for column in summary if column.endswith("_sd")]  # one seed: no spread columns
    assert sim_pgd["accuracy"] == pytest.approx(0.85)
    assert sim_pgd["macro_f1"] == pytest.approx(0.80)
    # 1.2 is nearer 1.5 than 0.5; the logreg baseline is not a regime and must not leak in.
    assert sim_pgd["robust_eps_fgsm_linf"] == 1.5
    assert sim_pgd["robust_accuracy_fgsm_linf"] == pytest.approx(0.5)
    assert sim_pgd["robust_accuracy_pgd_linf"] == pytest.approx(0.4)
    assert sim_pgd["robust_macro_f1_pgd_linf"] == pytest.approx(0.2)
    assert sim_pgd["largest_structured_eps"] == 1.0
    # Recovery from the "all types" rows: consensus 5 + 1, methods (2 + 1, 4 + 1) averaged, DE 6 + 1.
    assert sim_pgd["key_genes_recovered_consensus"] == 6
    assert sim_pgd["key_genes_p_value_consensus"] == pytest.approx(0.5 / 6)
    assert sim_pgd["key_genes_recovered_methods_mean"] == pytest.approx(4.0)
    assert sim_pgd["key_genes_recovered_de"] == 7
    assert sim_pgd["key_genes_expected"] == pytest.approx(1.2)
    assert sim_pgd["key_genes_top_n"] == 10
    # Faithfulness: consensus gain 3 x 0.2; methods mean (0.2 + 0.4) / 2, random left out.
    assert sim_pgd["deletion_gain_consensus"] == pytest.approx(0.6)
    assert sim_pgd["insertion_auc_consensus"] == pytest.approx(0.8)
    assert sim_pgd["deletion_gain_methods_mean"] == pytest.approx(0.3)
    assert sim_pgd["sensitivity_max_methods_mean"] == pytest.approx(1.0)
    assert sim_pgd["infidelity_methods_mean"] == pytest.approx(0.1)
    assert sim_pgd["de_overlap"] == 7
    assert sim_pgd["de_overlap_expected"] == 4.0
    real_standard = summary_row(summary, "real", "standard")
    assert real_standard["enriched_terms"] == 2
    assert real_standard["enrichment_backend"] == "gmt"
    assert summary_row(summary, "real", "pgd")["enriched_terms"] == 0


def test_real_data_with_markers_get_recovery_and_enrichment(results_dir, inputs):
    inputs = merged(inputs, write_dataset(results_dir, "marked", simulated=False, markers="pbmc.tsv"))
    summary, _, methods, _, _, _, lacking = compare_run(inputs, ["sim", "real", "marked"], REGIMES, METHODS, attack={"eps": 1.2})
    marked = summary_row(summary, "marked", "pgd")
    assert marked["key_genes_source"] == "markers: pbmc.tsv"
    assert summary_row(summary, "sim", "pgd")["key_genes_source"] == "simulation"
    assert pd.isna(summary_row(summary, "real", "pgd")["key_genes_source"])
    assert marked["key_genes_recovered_consensus"] == 6
    assert marked["key_genes_p_value_consensus"] == pytest.approx(0.5 / 6)
    assert marked["enriched_terms"] == 0
    assert methods[(methods["dataset"] == "marked") & (methods["method"] == "lime")]["key_genes_recovered"].tolist() == [4, 5]
    # These fixtures write none of the kinds the comparison gained later (CellTypist, queries,
    # sanity checks, consensus tables): every one is reported for every dataset.
    later = ("celltypist", "queries", "sanity", "consensus", "radius")
    assert [line for line in lacking if not line.endswith(later)] == ["sim: no enrichment", "real: no recovery"]
    assert {line for line in lacking if line.endswith(later)} == {f"{ds}: no {kind}" for ds in ("sim", "real", "marked")
                                                                   for kind in later}


def test_pieces_a_dataset_lacks_are_nan_and_reported(results_dir, inputs):
    inputs["robustness"] = [path for path in inputs["robustness"] if "/real/" not in str(path)]
    write_json(results_dir / "real/eps_structure/summary.json",
               {"dataset": "real", "threshold": 0.9, "largest_structured_eps": None})
    summary, _, _, _, _, _, lacking = compare_run(inputs, ["sim", "real"], REGIMES, METHODS, attack={"eps": 0.5})
    sim, real = summary_row(summary, "sim", "standard"), summary_row(summary, "real", "standard")
    for column in ("enriched_terms", "enrichment_backend"):
        assert pd.isna(sim[column])
    for column in ("key_genes_recovered_consensus", "key_genes_expected", "key_genes_recovered_de",
                   "robust_accuracy_fgsm_linf", "robust_eps_pgd_linf", "largest_structured_eps"):
        assert pd.isna(real[column]), column
    assert real["deletion_gain_consensus"] == pytest.approx(0.3)
    later = ("celltypist", "queries", "sanity", "consensus", "radius")
    assert {line for line in lacking if not line.endswith(later)} == {"real: no robustness", "sim: no enrichment",
                                                                       "real: no recovery"}


def test_a_dataset_with_only_its_metrics_still_gets_rows(results_dir, inputs):
    write_json(results_dir / "bare/seed0/metrics/standard.json",
               {"dataset": "bare", "regime": "standard", "seed": 0, "accuracy": 0.5, "macro_f1": 0.4})
    inputs["metrics"].append(results_dir / "bare/seed0/metrics/standard.json")
    summary, _, methods, _, _, _, _ = compare_run(inputs, ["bare", "sim", "real"], REGIMES, METHODS, attack={"eps": 0.5})
    bare = summary[summary["dataset"] == "bare"]
    assert list(bare["accuracy"].fillna(-1)) == [0.5, -1]
    assert list(bare["model_flag"]) == ["", ""]
    assert bare.drop(columns=["dataset", "regime", "n_seeds", "accuracy", "macro_f1", "attack_eps", "attack_eps_source",
                              "model_flag"]).isna().all().all()
    assert "bare" not in set(methods["dataset"])


def test_a_file_of_another_dataset_is_refused(inputs):
    with pytest.raises(ScrobinError, match="real.*not in the run"):
        compare_run(inputs, ["sim"], REGIMES, METHODS, attack={"eps": 0.5})


def test_method_table_joins_the_evaluations_per_ranking(inputs):
    methods = method_table(load_results(inputs, ["sim", "real"]))
    methods = methods[methods["dataset"] == "sim"].set_index(["regime", "method"])
    assert list(methods.index.get_level_values("regime")) == ["standard"] * 5 + ["pgd"] * 5
    assert set(methods.loc["pgd"].index) == {"saliency", "lime", "consensus", "DE (wilcoxon)", "random"}
    lime = methods.loc[("pgd", "lime")]
    assert (lime["key_genes_recovered"], lime["deletion_gain"], lime["sensitivity_max"]) == pytest.approx((5, 0.4, 1.5))
    assert pd.isna(methods.loc[("pgd", "random"), "key_genes_recovered"])
    assert pd.isna(methods.loc[("pgd", "DE (wilcoxon)"), "deletion_auc"])
    assert pd.isna(methods.loc[("pgd", "consensus"), "sensitivity_max"])


def test_replicates_give_mean_spread_and_a_paired_interval(results_dir):
    inputs = write_dataset(results_dir, "sim", simulated=True, seeds=(3, 4, 5))
    stability = pd.read_csv(inputs["stability"][0], sep="\t")
    # Seed 5's standard saliency is 3 less stable: the spread of the method table must show it.
    stability.loc[(stability["seed"] == 5) & (stability["method"] == "saliency") & (stability["regime"] == "standard"),
                  "sensitivity_max"] += 3.0
    stability.to_csv(inputs["stability"][0], sep="\t", index=False)
    summary, _, methods, differences, _, _, _ = compare_run(inputs, ["sim"], REGIMES, METHODS, attack={"eps": 1.2})
    standard = summary_row(summary, "sim", "standard")
    assert standard["n_seeds"] == 3
    # Accuracies 0.90, 0.92, 0.94 over the three seeds.
    assert standard["accuracy"] == pytest.approx(0.92)
    assert standard["accuracy_sd"] == pytest.approx(0.02)
    assert standard["robust_accuracy_fgsm_linf_sd"] == pytest.approx(0.02)
    saliency = methods.set_index(["regime", "method"]).loc[("standard", "saliency")]
    assert saliency["sensitivity_max"] == pytest.approx(2.0)
    assert saliency["sensitivity_max_sd"] == pytest.approx(pd.Series([1.0, 1.0, 4.0]).std())
    # pgd - standard per seed: clean -0.05 every seed (no spread), robust fgsm +0.4 every seed.
    by_measure = differences.set_index("measure")
    clean = by_measure.loc["accuracy"]
    assert (clean["n_seeds"], clean["difference"], clean["difference_sd"]) == pytest.approx((3, -0.05, 0.0))
    assert clean["ci_low"] == pytest.approx(-0.05) and clean["ci_high"] == pytest.approx(-0.05)
    robust = by_measure.loc["robust_accuracy_fgsm_linf"]
    assert robust["difference"] == pytest.approx(0.4)
    assert robust["standard_mean"] == pytest.approx(0.12)
    # sensitivity: standard saliency 1, 1, 4 and lime 3 -> means 2, 2, 3.5; pgd means 1, 1, 1.
    sensitivity = by_measure.loc["sensitivity_max_methods_mean"]
    differences_per_seed = pd.Series([-1.0, -1.0, -2.5])
    half = stats.t.ppf(0.975, 2) * differences_per_seed.std() / 3 ** 0.5
    assert sensitivity["difference"] == pytest.approx(differences_per_seed.mean())
    assert (sensitivity["ci_low"], sensitivity["ci_high"]) == pytest.approx(
        (differences_per_seed.mean() - half, differences_per_seed.mean() + half))
    assert set(differences["regime"]) == {"pgd"} and set(differences["versus"]) == {"standard"}


def test_one_seed_states_the_difference_without_an_interval(inputs):
    differences = compare_run(inputs, ["sim", "real"], REGIMES, METHODS, attack={"eps": 1.2}).differences
    row = differences[(differences["dataset"] == "sim")].set_index("measure").loc["key_genes_recovered_consensus"]
    assert (row["n_seeds"], row["difference"]) == (1, 1)
    assert pd.isna(row["ci_low"]) and pd.isna(row["difference_sd"])


@pytest.mark.parametrize("datasets", [["sim", "real"], ["real"]])
def test_comparison_figure_is_written(results_dir, tmp_path, datasets):
    inputs = merged(*(write_dataset(results_dir, name, simulated=name == "sim", seeds=(0, 1)) for name in datasets))
    summary = compare_run(inputs, datasets, REGIMES, METHODS, attack={"eps": 0.5}).summary
    path = plot_comparison(summary, tmp_path / "figures" / "comparison.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000


def test_empty_inputs_are_refused(inputs):
    with pytest.raises(ScrobinError, match="no datasets"):
        compare_run(inputs, [], REGIMES, METHODS, attack={"eps": 0.5})
    with pytest.raises(ScrobinError, match="unknown comparison input"):
        compare_run({"metric": []}, ["sim"], REGIMES, METHODS, attack={"eps": 0.5})
    with pytest.raises(ScrobinError, match="summary"):
        plot_comparison(pd.DataFrame(), "unused.png")
