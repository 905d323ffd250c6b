"""Rule prepare: load a dataset, check it, preprocess and split it into prepared.h5ad (the work is ``scrobin.data.jobs.prepare``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.data import jobs  # noqa: E402

run_rule(snakemake, jobs.prepare)  # noqa: F821 (injected by Snakemake)
