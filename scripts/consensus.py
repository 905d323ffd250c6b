"""Rule consensus: votes of the methods per gene and cell type, and the clustered heatmap."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import anndata as ad

from scrobin.attribution.consensus import consensus_ranking, plot_consensus_heatmap
from scrobin.entrypoint import run_rule
from scrobin.model.check import MODEL_FLAG_COLUMN
from scrobin.tables import GENE_SYMBOL_COLUMN, read_table, with_gene_symbols, write_table


def main(snakemake, log):
    settings = snakemake.params.consensus
    importances = {method: read_table(path) for method, path in snakemake.input.items() if method != "prepared"}
    table = consensus_ranking(importances, top_n=settings["top_n"])
    # Every importance table of a regime comes from the same model, hence carries the same flag.
    flag = next(iter(importances.values()))[MODEL_FLAG_COLUMN].fillna("").iloc[0]
    table[MODEL_FLAG_COLUMN] = flag
    # The dataset's gene_symbols (or var_names) next to the model's genes, and on the heatmap.
    table = with_gene_symbols(table, ad.read_h5ad(snakemake.input.prepared, backed="r").var)
    write_table(table, snakemake.output.table)
    title = f"{snakemake.wildcards.ds}, {snakemake.wildcards.regime} model{' (FLAGGED)' if flag else ''}: votes of {len(importances)} methods"
    plot_consensus_heatmap(
        table.assign(gene=table[GENE_SYMBOL_COLUMN]), snakemake.output.heatmap, top_k=settings["heatmap_top_k"],
        max_votes=snakemake.params.n_methods, title=title, direction=snakemake.params.direction,
    )


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
