"""Rule robustness: accuracy of one network under attack over the eps grid (the work is ``scrobin.robustness.jobs.robustness``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.robustness import jobs  # noqa: E402

run_rule(snakemake, jobs.robustness)  # noqa: F821 (injected by Snakemake)
