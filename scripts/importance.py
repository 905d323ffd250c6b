"""Rule importance: mean attribution per gene over each cell type's own cells, and its ranking."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import anndata as ad

from scrobin.entrypoint import run_rule
from scrobin.importance import importance_from_anndata
from scrobin.metrics import MODEL_FLAG_COLUMN


def main(snakemake, log):
    attributions = ad.read_h5ad(snakemake.input[0])
    table = importance_from_anndata(attributions, rank_by=snakemake.params.rank_by)
    table[MODEL_FLAG_COLUMN] = attributions.uns["attribution"].get(MODEL_FLAG_COLUMN, "")
    table.to_csv(snakemake.output[0], sep="\t", index=False)


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
