"""Rule de_overlap: top DE genes vs top consensus genes per cell type for one regime (paper Fig. 3d,e)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import pandas as pd

from scrobin.entrypoint import run_rule
from scrobin.evaluation.de import de_overlap
from scrobin.evaluation.figures import plot_de_venn


def main(snakemake, log):
    regime = snakemake.wildcards.regime
    de = pd.read_csv(snakemake.input.de, sep="\t")
    consensus = pd.read_csv(snakemake.input.consensus, sep="\t")
    overlap = de_overlap(de, consensus, top_n=snakemake.params.top_n)
    plot_de_venn(overlap, snakemake.output.figure, ranking_label=f"consensus ({regime})")
    overlap.insert(0, "regime", regime)
    overlap.to_csv(snakemake.output.table, sep="\t", index=False)


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
