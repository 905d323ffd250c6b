"""Rule robustness_curves: every model of a dataset on one figure (paper Fig. 1d,e; mean and spread
over replicates) and one table."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.robustness_plots import plot_robustness_curves
from scrobin.tables import concatenated_tables, write_table


def main(snakemake, log):
    table = concatenated_tables([*snakemake.input.models, *snakemake.input.logistic], snakemake.wildcards.ds)
    plot_robustness_curves(table, snakemake.output.accuracy, metric="accuracy")
    plot_robustness_curves(table, snakemake.output.macro_f1, metric="macro_f1")
    write_table(table, snakemake.output.table)


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
