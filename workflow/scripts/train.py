"""Rule train: fit the standard classifier, evaluate it on the test split, save it (the work is ``scrobin.model.jobs.train``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.model import jobs  # noqa: E402

run_rule(snakemake, jobs.train)  # noqa: F821 (injected by Snakemake)
