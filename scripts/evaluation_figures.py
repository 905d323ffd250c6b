"""Rule evaluation_figures: every replicate's and regime's faithfulness, stability and DE overlap in
one table and figure each (mean and spread over replicates)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.evaluation.figures import plot_faithfulness, plot_stability
from scrobin.tables import concatenated_tables, write_table


def main(snakemake, log):
    dataset = snakemake.wildcards.ds
    faithfulness = concatenated_tables(snakemake.input.faithfulness, dataset)
    stability = concatenated_tables(snakemake.input.stability, dataset)
    write_table(concatenated_tables(snakemake.input.de_overlap, dataset), snakemake.output.de_overlap)
    write_table(faithfulness, snakemake.output.faithfulness)
    write_table(stability, snakemake.output.stability)
    plot_faithfulness(concatenated_tables(snakemake.input.curves), snakemake.output.faithfulness_figure)
    plot_stability(stability, snakemake.output.stability_figure)


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
