"""replicates: 3 on the test config's simulation, run by Snakemake: three seeds that differ, the
configured seed reproduced bit for bit, and a comparison with mean, spread and paired intervals."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
import yaml

from conftest import TEST_CONFIG, snakemake
from scrobin.model.store import load_model
from scrobin.tables import read_table

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def replicated_run(tmp_path_factory):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    # The simulation, one method and one adversarial regime keep every rule while three seeds stay short.
    config["datasets"] = {"tiny": config["datasets"]["tiny"]}
    config["attribution"]["methods"] = {"saliency": {"gradient_of": "both"}}
    config["adversarial_training"] = {"regimes": ["fgsm"]}
    config["replicates"] = 3
    folder = tmp_path_factory.mktemp("replicates")
    path = folder / "replicates.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(folder / "run", config=path)
    assert result.returncode == 0, result.stderr[-5000:]
    return folder / "run", config


def state(path):
    return load_model(path, torch.device("cpu"))[0].state_dict()


def test_replicate_seeds_train_different_models(replicated_run):
    workdir, config = replicated_run
    seeds = [config["seed"] + replicate for replicate in range(3)]
    states = [state(workdir / f"results/tiny/seed{seed}/models/standard.pt") for seed in seeds]
    for other in states[1:]:
        assert not all(torch.equal(states[0][name], other[name]) for name in states[0])
    for seed in seeds:
        metrics = json.loads((workdir / f"results/tiny/seed{seed}/metrics/fgsm.json").read_text())
        assert (metrics["dataset"], metrics["regime"], metrics["seed"]) == ("tiny", "fgsm", seed)


def test_the_configured_seed_reproduces_bit_for_bit(replicated_run, finished_run):
    """The first replicate is the configured seed: the same model as the one-replicate run's."""
    workdir, config = replicated_run
    model = f"results/tiny/seed{config['seed']}/models/standard.pt"
    mine, reference = state(workdir / model), state(finished_run / model)
    assert mine.keys() == reference.keys()
    assert all(torch.equal(mine[name], reference[name]) for name in reference)


def test_summaries_keep_every_seed_and_the_comparison_gives_mean_spread_and_interval(replicated_run):
    workdir, config = replicated_run
    seeds = {config["seed"] + replicate for replicate in range(3)}
    results = workdir / "results"
    for table in ("robustness/summary.tsv", "evaluation/recovery.tsv", "evaluation/stability.tsv",
                  "evaluation/faithfulness.tsv"):
        rows = read_table(results / "tiny" / table)
        assert set(rows["seed"].dropna().astype(int)) == seeds, table
    summary = read_table(results / "comparison/summary.tsv").set_index("regime")
    assert (summary["n_seeds"] == 3).all()
    metrics = [json.loads((results / f"tiny/seed{seed}/metrics/fgsm.json").read_text())["accuracy"] for seed in seeds]
    assert summary.loc["fgsm", "accuracy"] == pytest.approx(pd.Series(metrics).mean())
    assert summary.loc["fgsm", "accuracy_sd"] == pytest.approx(pd.Series(metrics).std())
    assert {"key_genes_recovered_consensus_sd", "sensitivity_max_methods_mean_sd"} <= set(summary.columns)
    differences = read_table(results / "comparison/differences.tsv").set_index("measure")
    accuracy = differences.loc["accuracy"]
    assert (accuracy["regime"], accuracy["versus"], accuracy["n_seeds"]) == ("fgsm", "standard", 3)
    assert accuracy["ci_low"] <= accuracy["difference"] <= accuracy["ci_high"]
    assert any(measure.startswith("robust_accuracy_") for measure in differences.index)
