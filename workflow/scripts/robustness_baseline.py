"""Rule robustness_baseline: accuracy of the logistic-regression classifier under attack (the work is ``scrobin.robustness.jobs.robustness_baseline``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.robustness import jobs  # noqa: E402

run_rule(snakemake, jobs.robustness_baseline)  # noqa: F821 (injected by Snakemake)
