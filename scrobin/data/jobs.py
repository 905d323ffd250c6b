"""The rules of ``workflow/rules/data.smk``: one function per rule, called as ``run_rule(snakemake, jobs.<rule>)``."""

from __future__ import annotations

from scrobin.contract import SPLIT_KEY


def prepare(snakemake, log) -> None:
    """Rule ``prepare``: load the dataset's source, check it, preprocess and split it.

    Writes ``output.prepared`` (``prepared.h5ad``, the fields of :mod:`scrobin.contract`) from
    ``params.spec`` (the dataset), ``params.prepare`` and ``params.seed``.
    """
    from scrobin.data.datasets import load_dataset
    from scrobin.data.prepare import prepare_dataset

    spec, seed, name = snakemake.params.spec, snakemake.params.seed, snakemake.wildcards.ds
    adata = load_dataset(spec, name=name)
    prepared = prepare_dataset(adata, name, spec, snakemake.params.prepare, seed)
    log.info("prepared %d cells x %d genes; splits %s", prepared.n_obs, prepared.n_vars, prepared.obs[SPLIT_KEY].value_counts().to_dict())
    prepared.write_h5ad(snakemake.output.prepared, compression="gzip")
