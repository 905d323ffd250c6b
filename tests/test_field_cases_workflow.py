"""Digit-string labels (plain ``sc.tl.leiden`` output) through the whole tiny DAG to the comparison."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from conftest import REPO, TEST_CONFIG, snakemake
from scrobin.tables import read_table

pytestmark = pytest.mark.workflow

LEIDEN = REPO / "tests" / "data" / "field_cases" / "leiden_digit_labels.h5ad"


def test_digit_labels_run_the_whole_dag(tmp_path):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    # One dataset, two methods and one adversarial regime keep every rule while the run stays short.
    config["datasets"] = {"leiden": {"source": str(LEIDEN), "label_key": "leiden"}}
    config["attribution"]["methods"] = {"saliency": {"gradient_of": "both"}, "deepshap": {"n_baseline_samples": 20}}
    config["adversarial_training"] = {"regimes": ["fgsm"]}
    path = tmp_path / "leiden.yaml"
    path.write_text(yaml.safe_dump(config))
    workdir = tmp_path / "run"
    result = snakemake(workdir, config=path)
    assert result.returncode == 0, result.stderr[-5000:]

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
