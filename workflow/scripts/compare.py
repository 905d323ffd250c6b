"""Rule compare: every dataset and regime side by side (the work is ``scrobin.compare.jobs.compare``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.compare import jobs  # noqa: E402

run_rule(snakemake, jobs.compare)  # noqa: F821 (injected by Snakemake)
