"""Rule enrich: pathways of each cell type's top consensus genes, background = the model's genes."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import json

import anndata as ad
import pandas as pd

from scrobin.consensus import top_consensus_genes
from scrobin.enrichment import enrich_with_config, plot_term_heatmap, write_dot_plots
from scrobin.entrypoint import run_rule


def main(snakemake, log):
    settings = snakemake.params.enrichment
    consensus = pd.read_csv(snakemake.input.consensus, sep="\t")
    genes = list(ad.read_h5ad(snakemake.input.prepared, backed="r").var_names)
    gene_lists = top_consensus_genes(consensus, top_k=settings["top_genes"], direction=snakemake.params.direction)
    table, info = enrich_with_config(gene_lists, genes, snakemake.params.organism, settings, log=log)
    table.to_csv(snakemake.output.table, sep="\t", index=False)
    with open(snakemake.output.info, "w") as handle:
        json.dump(info, handle, indent=2)
    log.info("%d significant terms from %s", int(table["significant"].sum()), info["backend"])
    plot_term_heatmap(table, snakemake.output.heatmap, max_terms=settings["heatmap_max_terms"])
    Path(snakemake.output.dotplots).mkdir(parents=True, exist_ok=True)
    write_dot_plots(table, snakemake.output.dotplots, queries=list(gene_lists), max_terms=settings["dotplot_max_terms"])


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
