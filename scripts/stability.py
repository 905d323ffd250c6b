"""Rule stability: captum sensitivity_max and infidelity of every method on one model."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import anndata as ad

from scrobin.entrypoint import run_rule
from scrobin.evaluation.jobs import regime_stability
from scrobin.model.store import load_model_for
from scrobin.runtime import resolve_device
from scrobin.tables import write_table


def main(snakemake, log):
    params = snakemake.params
    prepared = ad.read_h5ad(snakemake.input.prepared)
    model, _ = load_model_for(snakemake.input.model, prepared, resolve_device(params.device))
    table = regime_stability(model, prepared, params.methods, snakemake.wildcards.regime, params.evaluation, params.seed, params.device)
    write_table(table, snakemake.output[0])
    log.info("\n%s", table.to_string(index=False))


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
