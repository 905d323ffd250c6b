"""Rule logistic_baseline: a logistic regression on the networks' split, the reference every model is checked against."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import json

import anndata as ad

from scrobin.model.logistic import save_logistic_baseline
from scrobin.model.classifier import logistic_baseline_metrics
from scrobin.entrypoint import run_rule


def main(snakemake, log):
    prepared = ad.read_h5ad(snakemake.input.prepared)
    classifier, metrics = logistic_baseline_metrics(prepared, snakemake.params.seed)
    save_logistic_baseline(classifier, snakemake.output.model)
    log.info("logistic baseline: test accuracy %.4f, macro-F1 %.4f", metrics["accuracy"], metrics["macro_f1"])
    with open(snakemake.output.metrics, "w") as handle:
        json.dump(metrics, handle, indent=2)


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
