"""The rule of ``workflow/rules/enrichment.smk``, called as ``run_rule(snakemake, jobs.enrich)``."""

from __future__ import annotations

from pathlib import Path

import anndata as ad

from scrobin.tables import gene_labels, read_table, write_json, write_reported_table


def enrich(snakemake, log) -> None:
    """Rule ``enrich``: pathways of each cell type's top consensus genes, background = the model's genes.

    Writes ``output.table`` (one row per cell type and term), ``output.info`` (what ran: backend,
    sources, fallbacks), ``output.heatmap`` and one dot plot per cell type in ``output.dotplots``.
    """
    from scrobin.attribution.consensus import top_consensus_genes
    from scrobin.enrichment.analysis import enrich_with_config
    from scrobin.enrichment.plots import plot_term_heatmap, write_dot_plots

    settings = snakemake.params.enrichment
    consensus = read_table(snakemake.input.consensus)
    # Gene sets name genes by symbol: enrich the dataset's gene_symbols when it sets them.
    symbol_of = gene_labels(ad.read_h5ad(snakemake.input.prepared, backed="r").var)
    top_genes = top_consensus_genes(consensus, top_k=settings["top_genes"], direction=snakemake.params.direction)
    gene_lists = {cell_type: list(symbol_of[genes]) for cell_type, genes in top_genes.items()}
    table, info = enrich_with_config(gene_lists, list(symbol_of), snakemake.params.organism, settings, log=log)
    write_reported_table(table, snakemake.output.table, snakemake.output.table_view,
                         f"{snakemake.wildcards.ds}, {snakemake.wildcards.regime} model: enriched terms")
    # Self-describing, so the comparison reads these files without decoding paths.
    described = {"dataset": snakemake.wildcards.ds, "regime": snakemake.wildcards.regime, "seed": snakemake.params.seed,
                 "significant_terms": int(table["significant"].astype(bool).sum()), **info}
    write_json(described, snakemake.output.info)
    if info.get("background_annotated", 1):
        log.info("%d significant terms from %s", int(table["significant"].sum()), info["backend"])
    plot_term_heatmap(table, snakemake.output.heatmap, max_terms=settings["heatmap_max_terms"])
    Path(snakemake.output.dotplots).mkdir(parents=True, exist_ok=True)
    write_dot_plots(table, snakemake.output.dotplots, queries=list(gene_lists), max_terms=settings["dotplot_max_terms"])
