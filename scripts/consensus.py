"""Rule consensus: votes of the methods per gene and cell type, and the clustered heatmap."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import pandas as pd

from scrobin.consensus import consensus_ranking, plot_consensus_heatmap
from scrobin.entrypoint import run_rule
from scrobin.metrics import MODEL_FLAG_COLUMN


def main(snakemake, log):
    settings = snakemake.params.consensus
    importances = {method: pd.read_csv(path, sep="\t") for method, path in snakemake.input.items()}
    table = consensus_ranking(importances, top_n=settings["top_n"])
    # Every importance table of a regime comes from the same model, hence carries the same flag.
    flag = next(iter(importances.values()))[MODEL_FLAG_COLUMN].fillna("").iloc[0]
    table[MODEL_FLAG_COLUMN] = flag
    table.to_csv(snakemake.output.table, sep="\t", index=False)
    title = f"{snakemake.wildcards.ds}, {snakemake.wildcards.regime} model{' (FLAGGED)' if flag else ''}: votes of {len(importances)} methods"
    plot_consensus_heatmap(table, snakemake.output.heatmap, top_k=settings["heatmap_top_k"], max_votes=snakemake.params.n_methods, title=title)


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
