"""One short real DAG for two things users do: digit-string labels (plain ``sc.tl.leiden`` output)
through every rule to the comparison, and ``replicates: 3`` (three seeds that differ, the seed
reproduced bit for bit, a comparison with mean, spread and paired intervals)."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO, TEST_CONFIG, snakemake
from scrobin.model.store import load_model
from scrobin.tables import read_table

pytestmark = pytest.mark.workflow

LEIDEN = REPO / "tests" / "data" / "field_cases" / "leiden_digit_labels.h5ad"
REPLICATES = 3


@pytest.fixture(scope="module")
def leiden_run(tmp_path_factory):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    # One dataset, one method and one adversarial regime (FGSM: the test config's is PGD) keep every
    # rule while three replicates stay short.
    config["datasets"] = {"leiden": {"source": str(LEIDEN), "label_key": "leiden"}}
    config["attribution"]["methods"] = {"saliency": {"gradient_of": "both"}}
    config["adversarial_training"] = {"regimes": ["fgsm"]}
    config["replicates"] = REPLICATES
    folder = tmp_path_factory.mktemp("leiden")
    path = folder / "leiden.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(folder / "run", config=path)
    assert result.returncode == 0, result.stderr[-5000:]
    return folder / "run", path, config


def seeds(config) -> list[int]:
    return [config["seed"] + replicate for replicate in range(REPLICATES)]


def state(path):
    return load_model(path, torch.device("cpu"))[0].state_dict()


def test_digit_labels_run_the_whole_dag(leiden_run):
    workdir, _, config = leiden_run
    results = workdir / "results"
    replicate = results / "leiden" / f"seed{config['seed']}"
    labels = {"0", "1", "2"}
    for table in ("consensus/standard.tsv", "consensus/fgsm.tsv", "importance/fgsm/saliency.tsv"):
        assert set(read_table(replicate / table)["cell_type"]) == labels
    assert set(pd.read_csv(replicate / "enrichment/standard.tsv", sep="\t", dtype=str)["query"]) <= labels
    enriched = read_table(replicate / "enrichment/standard.tsv")
    assert enriched["significant"].any(), "the top genes of each type are its marker genes: some term is enriched"
    faithfulness = read_table(results / "leiden/evaluation/faithfulness.tsv")
    assert {"consensus", "saliency"} <= set(faithfulness["ranking"])
    summary = read_table(results / "comparison/summary.tsv")
    assert list(summary["regime"]) == ["standard", "fgsm"]
    assert (summary["dataset"] == "leiden").all()


def test_replicate_seeds_train_different_models(leiden_run):
    workdir, _, config = leiden_run
    states = [state(workdir / f"results/leiden/seed{seed}/models/standard.pt") for seed in seeds(config)]
    for other in states[1:]:
        assert not all(torch.equal(states[0][name], other[name]) for name in states[0])
    for seed in seeds(config):
        metrics = json.loads((workdir / f"results/leiden/seed{seed}/metrics/fgsm.json").read_text())
        assert (metrics["dataset"], metrics["regime"], metrics["seed"]) == ("leiden", "fgsm", seed)


def test_a_replicate_reproduces_bit_for_bit(leiden_run, tmp_path):
    """Training one replicate's model again gives the same bits."""
    workdir, config_path, config = leiden_run
    model = f"results/leiden/seed{seeds(config)[1]}/models/standard.pt"
    rerun = tmp_path / "run"
    shutil.copytree(workdir, rerun)
    result = snakemake(rerun, model, "--forcerun", "train", config=config_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rule train" in result.stdout + result.stderr
    again, first = state(rerun / model), state(workdir / model)
    assert again.keys() == first.keys()
    assert all(torch.equal(again[name], first[name]) for name in first)


def test_summaries_keep_every_seed_and_the_comparison_gives_mean_spread_and_interval(leiden_run):
    workdir, _, config = leiden_run
    results = workdir / "results"
    for table in ("robustness/summary.tsv", "evaluation/stability.tsv", "evaluation/faithfulness.tsv",
                  "evaluation/de_overlap.tsv"):
        rows = read_table(results / "leiden" / table)
        assert set(rows["seed"].dropna().astype(int)) == set(seeds(config)), table
    summary = read_table(results / "comparison/summary.tsv").set_index("regime")
    assert (summary["n_seeds"] == REPLICATES).all()
    accuracies = [json.loads((results / f"leiden/seed{seed}/metrics/fgsm.json").read_text())["accuracy"]
                  for seed in seeds(config)]
    assert summary.loc["fgsm", "accuracy"] == pytest.approx(pd.Series(accuracies).mean())
    assert summary.loc["fgsm", "accuracy_sd"] == pytest.approx(pd.Series(accuracies).std())
    assert {"deletion_gain_consensus_sd", "sensitivity_max_methods_mean_sd", "enriched_terms_sd"} <= set(summary.columns)
    differences = read_table(results / "comparison/differences.tsv").set_index("measure")
    accuracy = differences.loc["accuracy"]
    assert (accuracy["regime"], accuracy["versus"], accuracy["n_seeds"]) == ("fgsm", "standard", REPLICATES)
    assert accuracy["ci_low"] <= accuracy["difference"] <= accuracy["ci_high"]
    assert any(measure.startswith("robust_accuracy_") for measure in differences.index)
