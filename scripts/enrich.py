"""Rule enrich: pathways of each cell type's top consensus genes, background = the model's genes."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import json

import anndata as ad

from scrobin.attribution.consensus import top_consensus_genes
from scrobin.enrichment import enrich_with_config, plot_term_heatmap, write_dot_plots
from scrobin.entrypoint import run_rule
from scrobin.tables import gene_labels, read_table, write_table


def main(snakemake, log):
    settings = snakemake.params.enrichment
    consensus = read_table(snakemake.input.consensus)
    # Gene sets name genes by symbol: enrich the dataset's gene_symbols when it sets them.
    symbol_of = gene_labels(ad.read_h5ad(snakemake.input.prepared, backed="r").var)
    top_genes = top_consensus_genes(consensus, top_k=settings["top_genes"], direction=snakemake.params.direction)
    gene_lists = {cell_type: list(symbol_of[genes]) for cell_type, genes in top_genes.items()}
    table, info = enrich_with_config(gene_lists, list(symbol_of), snakemake.params.organism, settings, log=log)
    write_table(table, snakemake.output.table)
    with open(snakemake.output.info, "w") as handle:
        json.dump(info, handle, indent=2)
    if info.get("background_annotated", 1):
        log.info("%d significant terms from %s", int(table["significant"].sum()), info["backend"])
    plot_term_heatmap(table, snakemake.output.heatmap, max_terms=settings["heatmap_max_terms"])
    Path(snakemake.output.dotplots).mkdir(parents=True, exist_ok=True)
    write_dot_plots(table, snakemake.output.dotplots, queries=list(gene_lists), max_terms=settings["dotplot_max_terms"])


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
