"""Rule logistic_baseline: the logistic-regression classifier every network is checked against (the work is ``scrobin.model.jobs.logistic_baseline``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.model import jobs  # noqa: E402

run_rule(snakemake, jobs.logistic_baseline)  # noqa: F821 (injected by Snakemake)
