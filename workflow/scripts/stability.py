"""Rule stability: sensitivity and infidelity of every method on one model (the work is ``scrobin.evaluation.jobs.stability``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.evaluation import jobs  # noqa: E402

run_rule(snakemake, jobs.stability)  # noqa: F821 (injected by Snakemake)
