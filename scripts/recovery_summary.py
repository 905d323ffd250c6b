"""Rule recovery_summary: every replicate's and regime's key-gene recovery of a dataset in one
table and one figure (mean and spread over replicates)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.evaluation.figures import plot_recovery
from scrobin.tables import concatenated_tables, write_table


def main(snakemake, log):
    table = concatenated_tables(snakemake.input, dataset=snakemake.wildcards.ds)
    write_table(table, snakemake.output.table)
    plot_recovery(table, snakemake.output.figure)


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
