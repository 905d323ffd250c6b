"""Rule robustness_curves: every model of a dataset on one figure (paper Fig. 1d,e) and one table."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import pandas as pd

from scrobin.entrypoint import run_rule
from scrobin.robustness.plots import plot_robustness_curves
from scrobin.tables import read_table, write_table


def main(snakemake, log):
    tables = {model: read_table(path) for model, path in snakemake.input.items()}
    plot_robustness_curves(tables, snakemake.output.accuracy, metric="accuracy")
    plot_robustness_curves(tables, snakemake.output.macro_f1, metric="macro_f1")
    write_table(pd.concat(tables.values(), ignore_index=True), snakemake.output.table)


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
