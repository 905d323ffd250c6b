"""Rule de_overlap: top DE genes vs top consensus genes per cell type for one regime (paper Fig. 3d,e)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.evaluation.de import de_overlap
from scrobin.evaluation.figures import plot_de_venn
from scrobin.tables import read_table, write_table


def main(snakemake, log):
    regime = snakemake.wildcards.regime
    de = read_table(snakemake.input.de)
    consensus = read_table(snakemake.input.consensus)
    overlap = de_overlap(de, consensus, top_n=snakemake.params.top_n)
    plot_de_venn(overlap, snakemake.output.figure, ranking_label=f"consensus ({regime})")
    overlap.insert(0, "seed", snakemake.params.seed)
    overlap.insert(1, "regime", regime)
    write_table(overlap, snakemake.output.table)


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
