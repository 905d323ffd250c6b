"""Rule robustness_curves: every model's sweep in one table and two figures (the work is ``scrobin.robustness.jobs.robustness_curves``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.robustness import jobs  # noqa: E402

run_rule(snakemake, jobs.robustness_curves)  # noqa: F821 (injected by Snakemake)
