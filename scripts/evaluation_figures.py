"""Rule evaluation_figures: every regime's faithfulness, stability and DE overlap in one table and figure each."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import pandas as pd

from scrobin.entrypoint import run_rule
from scrobin.evaluation.figures import plot_faithfulness, plot_stability
from scrobin.tables import read_table, write_table


def concatenated(paths):
    return pd.concat([read_table(path) for path in paths], ignore_index=True)


def main(snakemake, log):
    faithfulness = concatenated(snakemake.input.faithfulness)
    stability = concatenated(snakemake.input.stability)
    write_table(concatenated(snakemake.input.de_overlap), snakemake.output.de_overlap)
    write_table(faithfulness, snakemake.output.faithfulness)
    write_table(stability, snakemake.output.stability)
    plot_faithfulness(concatenated(snakemake.input.curves), snakemake.output.faithfulness_figure)
    plot_stability(stability, snakemake.output.stability_figure)


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
