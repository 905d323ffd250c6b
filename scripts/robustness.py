"""Rule robustness: accuracy and macro-F1 of one model under fresh white-box attacks over the eps grid."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import anndata as ad

from scrobin.attack_budget import sweep_grid
from scrobin.cells import label_codes, proportional_subset, split_rows
from scrobin.entrypoint import run_rule
from scrobin.model_store import load_model_for
from scrobin.robustness import robustness_sweep
from scrobin.runtime import resolve_device
from scrobin.sparse_scaling import model_input
from scrobin.tables import write_table


def main(snakemake, log):
    settings, seed = snakemake.params.robustness, snakemake.params.seed
    eps_grid = sweep_grid(
        settings["eps_grid"], snakemake.params.attack, snakemake.input.get("eps_structure"), snakemake.wildcards.ds
    )
    prepared = ad.read_h5ad(snakemake.input.prepared)
    model, _ = load_model_for(snakemake.input.model, prepared, resolve_device(snakemake.params.device))
    rows = split_rows(prepared, "test")
    rows = rows[proportional_subset(label_codes(prepared)[rows], settings["n_cells"], seed)]
    log.info("attacking the %s model on %d test cells", snakemake.wildcards.regime, len(rows))
    table = robustness_sweep(
        model, model_input(prepared)[rows], label_codes(prepared)[rows], settings["attacks"], eps_grid,
        device=snakemake.params.device, seed=seed,
    )
    table.insert(0, "model", snakemake.wildcards.regime)
    write_table(table, snakemake.output.table)
    log.info("\n%s", table.to_string(index=False))


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
