"""The verdict: sentences generated from the comparison's tables, whatever the sign, never a
difference from one seed, and rendered as valid reStructuredText and HTML."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scrobin.compare.seeds import mean_over_seeds
from scrobin.compare.verdict import difference_sentence, render_html, render_rst, verdict_blocks

SETTINGS = {"replicates": 3, "min_type_f1": 0.5, "min_cells": 10, "recovery_top_n": 20, "sanity_threshold": 0.5}


def per_seed_table(robust_gain: float, seeds=(0, 1, 2), consensus_auprc=(0.30, 0.31, 0.29)) -> pd.DataFrame:
    rows = []
    for index, seed in enumerate(seeds):
        for regime in ("standard", "pgd"):
            pgd = regime == "pgd"
            rows.append({
                "dataset": "sim", "seed": seed, "regime": regime, "accuracy": 0.9 - 0.02 * pgd + 0.001 * index,
                "macro_f1": 0.88, "logistic_accuracy": 0.9, "logistic_macro_f1": 0.87, "model_flag": "",
                "test_split": "random stratified", "attack_eps": 0.2, "attack_eps_source": "eps_structure",
                "attack_eps_structure_score": 0.91, "robust_accuracy_pgd_linf": 0.3 + robust_gain * pgd + 0.01 * index,
                "key_genes_source": "simulation", "key_genes_expected": 2.4, "key_genes_auprc_chance": 0.04,
                "key_genes_recovered_consensus": 12.0, "key_genes_auprc_consensus": consensus_auprc[index],
                "strongest_baseline": "DE (wilcoxon)", "key_genes_auprc_strongest_baseline": 0.40,
                "celltypist_macro_f1": 0.85, "celltypist_robust_accuracy_exact": 0.2,
                "celltypist_robust_accuracy_exact_in_domain": 0.25, "logistic_robust_accuracy_exact": 0.1,
            })
    return pd.DataFrame(rows)


def consensus_table() -> pd.DataFrame:
    rows = []
    for cell_type, f1, n_cells in (("B", 0.95, 40), ("rare", 0.0, 2)):
        for rank, gene in enumerate(["g1", "g2", "g3", "g4", "g5", "g6"], start=1):
            rows.append({"dataset": "sim", "seed": 0, "regime": "standard", "cell_type": cell_type,
                         "gene": f"{cell_type}_{gene}", "consensus_rank": rank, "votes": 7 - rank, "type_f1": f1,
                         "n_test_cells": n_cells, "n_cells": n_cells, "few_cells": n_cells < 10,
                         "not_recognised": f1 < 0.5})
    return pd.DataFrame(rows)


def methods_table(survivor: str | None = None, class_blind: str | None = None) -> pd.DataFrame:
    return pd.DataFrame([
        {"dataset": "sim", "regime": "standard", "method": method,
         "sanity_spearman_randomised": 0.8 if method == survivor else 0.03,
         "sanity_spearman_random_logit": 0.7 if method == class_blind else 0.2,
         "sanity_verdict": "explains the data" if method == survivor else "explains the model"}
        for method in ("saliency", "lime")
    ])


def verdict_text(per_seed: pd.DataFrame, survivor: str | None = None, class_blind: str | None = None) -> str:
    summary = mean_over_seeds(per_seed, ["dataset", "regime"])
    return render_rst(verdict_blocks(summary, per_seed, methods_table(survivor, class_blind), consensus_table(),
                                     SETTINGS))


@pytest.mark.parametrize(("gain", "word"), [(0.25, "raises"), (-0.2, "lowers"), (0.0, "no difference the seeds can tell")])
def test_a_difference_is_stated_whatever_its_sign(gain, word):
    text = verdict_text(per_seed_table(gain))
    line = next(line for line in text.splitlines() if line.startswith("* pgd-trained model"))
    assert word in line and "95% interval" in line and "over 3 seeds" in line


def test_one_seed_is_never_read_as_a_difference():
    text = verdict_text(per_seed_table(0.25, seeds=(0,), consensus_auprc=(0.3,)))
    line = next(line for line in text.splitlines() if line.startswith("* pgd-trained model"))
    assert "raises" not in line and "on one seed: run replicates: 3" in line
    assert "below the strongest baseline on one seed" in text


def test_the_consensus_is_placed_against_the_strongest_baseline_with_the_seeds_interval():
    below = verdict_text(per_seed_table(0.1, consensus_auprc=(0.30, 0.31, 0.29)))
    assert "0.40 for the strongest baseline (DE (wilcoxon))" in below and "below the strongest baseline (-0.10" in below
    above = verdict_text(per_seed_table(0.1, consensus_auprc=(0.50, 0.52, 0.51)))
    assert "above the strongest baseline (+0.11" in above
    level = verdict_text(per_seed_table(0.1, consensus_auprc=(0.30, 0.50, 0.40)))
    assert "level with the strongest baseline" in level


def test_types_not_to_trust_are_named_with_why_and_the_others_get_their_genes():
    text = verdict_text(per_seed_table(0.1))
    assert "* rare (not recognised: test F1 0.00 on 2 test cells, below 0.5; too few cells: importance averaged over 2" in text
    genes_row = next(line for line in text.splitlines() if "B_g1" in line)
    assert "B_g1 (6), B_g2 (5), B_g3 (4), B_g4 (3), B_g5 (2)" in genes_row and "B_g6" not in genes_row
    assert "rare_g1" not in text


def test_a_method_that_survives_randomisation_is_named():
    assert "lime keep their ranking on a network that learnt nothing" in verdict_text(per_seed_table(0.1), "lime")
    assert "Every method's ranking changes with the model" in verdict_text(per_seed_table(0.1))


def test_a_method_blind_to_the_class_it_explains_is_named():
    assert "alike whichever class" not in verdict_text(per_seed_table(0.1))
    text = verdict_text(per_seed_table(0.1), class_blind="saliency")
    assert "saliency rank genes nearly alike whichever class they explain (random-logit" in text
    assert "Spearman\\| 0.70)" in text


def test_the_reference_classifiers_and_the_budget_are_stated():
    text = verdict_text(per_seed_table(0.1))
    assert "Attack budget: eps 0.2" in text and "structure score is 0.91" in text
    assert "CellTypist 0.20 (exact; 0.25 when expression may not fall below zero)" in text
    assert "0.87 for a logistic regression and 0.85 for CellTypist" in text


def test_a_classifier_below_a_reference_is_said_to_be_no_better():
    text = verdict_text(per_seed_table(0.1))
    assert "worth explaining." in text and "no better than the reference" not in text
    below = per_seed_table(0.1).assign(logistic_macro_f1=0.91)
    text = verdict_text(below)
    assert "worth explaining, though 0.03 below logistic regression" in text
    assert "no better than the reference" in text


def test_rst_and_html_render_without_errors():
    from docutils.core import publish_parts

    blocks = verdict_blocks(mean_over_seeds(per_seed_table(0.1), ["dataset", "regime"]), per_seed_table(0.1),
                            methods_table(), consensus_table(), SETTINGS)
    rst = render_rst(blocks)
    body = publish_parts(rst, writer="html", settings_overrides={"report_level": 2, "halt_level": 2})["body"]
    assert "<table" in body and "System Message" not in body
    page = render_html(blocks)
    assert page.startswith("<!DOCTYPE html>") and "<h1>Verdict</h1>" in page and "B_g1 (6)" in page


def test_difference_sentence_with_nothing_measured():
    assert difference_sentence(np.array([]), np.array([]), "accuracy") == "accuracy not measured"


def test_the_bracket_and_what_pgd_alone_overstates_are_stated():
    table = per_seed_table(0.1).assign(robust_accuracy_strongest=lambda t: t["robust_accuracy_pgd_linf"] - 0.04,
                                       certified_accuracy_crown=0.1)
    table["pgd_overstates"] = table["robust_accuracy_pgd_linf"] - table["robust_accuracy_strongest"]
    text = verdict_text(table)
    assert "accuracy under the strongest attack" in text
    assert "lies between the certified 0.10 (CROWN) and 0.27" in text
    assert "PGD-10 alone overstates robust accuracy for standard by 0.04, pgd by 0.04" in text
    level = per_seed_table(0.1).assign(robust_accuracy_strongest=lambda t: t["robust_accuracy_pgd_linf"],
                                       pgd_overstates=0.0, certified_accuracy_crown=0.5)
    text = verdict_text(level)
    assert "no sign of gradient masking" in text and "overstates" not in text
    assert "certified (CROWN) as well: the true robust accuracy is" in text
