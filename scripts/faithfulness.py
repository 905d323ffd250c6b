"""Rule faithfulness: deletion and insertion curves of every ranking of one model, against random."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import anndata as ad

from scrobin.entrypoint import run_rule
from scrobin.evaluation import CONSENSUS
from scrobin.evaluation.jobs import regime_faithfulness
from scrobin.model.store import load_model_for
from scrobin.runtime import resolve_device
from scrobin.tables import read_table, write_table


def main(snakemake, log):
    params = snakemake.params
    prepared = ad.read_h5ad(snakemake.input.prepared)
    model, _ = load_model_for(snakemake.input.model, prepared, resolve_device(params.device))
    rankings = {method: read_table(snakemake.input[method]) for method in params.methods}
    rankings[CONSENSUS] = read_table(snakemake.input.consensus)
    curves, areas = regime_faithfulness(
        model, prepared, rankings, snakemake.wildcards.regime, params.evaluation, params.cells_per_type, params.seed
    )
    write_table(curves, snakemake.output.curves)
    write_table(areas, snakemake.output.areas)
    log.info("\n%s", areas.to_string(index=False))


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
