"""Rule prepare: load a dataset, check it, preprocess and split it into prepared.h5ad."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.contract import SPLIT_KEY
from scrobin.data.datasets import load_dataset
from scrobin.entrypoint import run_rule
from scrobin.data.prepare import prepare_dataset


def main(snakemake, log):
    spec, seed, name = snakemake.params.spec, snakemake.params.seed, snakemake.wildcards.ds
    adata = load_dataset(spec, name=name)
    prepared = prepare_dataset(adata, name, spec, snakemake.params.prepare, seed)
    log.info("prepared %d cells x %d genes; splits %s", prepared.n_obs, prepared.n_vars, prepared.obs[SPLIT_KEY].value_counts().to_dict())
    prepared.write_h5ad(snakemake.output[0], compression="gzip")


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
