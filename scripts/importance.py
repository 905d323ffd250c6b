"""Rule importance: mean attribution per gene over each cell type's own cells, its direction and ranking."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import anndata as ad

from scrobin.entrypoint import run_rule
from scrobin.importance import direction_from_prepared, ranked_importance


def main(snakemake, log):
    attributions = ad.read_h5ad(snakemake.input.attributions)
    directions = direction_from_prepared(ad.read_h5ad(snakemake.input.prepared, backed="r"))
    table = ranked_importance(attributions, directions, snakemake.params.importance)
    table.to_csv(snakemake.output[0], sep="\t", index=False)


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
