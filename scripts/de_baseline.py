"""Rule de_baseline: Wilcoxon rank-sum DE of each cell type against the rest (Benjamini-Hochberg)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import anndata as ad

from scrobin.entrypoint import run_rule
from scrobin.errors import ScrobinError
from scrobin.evaluation.de import de_ranking
from scrobin.prepared_layout import lognorm_expression
from scrobin.tables import with_gene_symbols, write_table


def main(snakemake, log):
    prepared = ad.read_h5ad(snakemake.input[0])
    expression = lognorm_expression(prepared)
    if expression is None:
        raise ScrobinError(
            f"dataset '{snakemake.wildcards.ds}' has no log-normalised values for DE (scaled input without .raw): "
            "start from counts or log-normalised data"
        )
    prepared.layers["lognorm"] = expression
    table = de_ranking(prepared, layer="lognorm", alpha=snakemake.params.alpha)
    write_table(with_gene_symbols(table, prepared.var), snakemake.output[0])


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
