"""Rule robustness_baseline: the logistic baseline (rule logistic_baseline) attacked through ART."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import anndata as ad

from scrobin.attack_budget import sweep_grid
from scrobin.baseline import load_logistic_baseline
from scrobin.cells import label_codes, proportional_subset, split_rows
from scrobin.entrypoint import run_rule
from scrobin.robustness import baseline_robustness_sweep
from scrobin.sparse_scaling import model_input
from scrobin.tables import write_table


def main(snakemake, log):
    settings, seed = snakemake.params.robustness, snakemake.params.seed
    eps_grid = sweep_grid(
        settings["eps_grid"], snakemake.params.attack, snakemake.input.get("eps_structure"), snakemake.wildcards.ds
    )
    prepared = ad.read_h5ad(snakemake.input.prepared)
    labels = label_codes(prepared)
    classifier = load_logistic_baseline(snakemake.input.model)
    rows = split_rows(prepared, "test")
    rows = rows[proportional_subset(labels[rows], settings["n_cells"], seed)]
    table = baseline_robustness_sweep(classifier, model_input(prepared)[rows], labels[rows], settings["attacks"], eps_grid, seed=seed)
    table.insert(0, "model", "logreg")
    write_table(table, snakemake.output.table)
    log.info("\n%s", table.to_string(index=False))


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
