"""Rule attribute: one method's attributions and importance table for one model (the work is ``scrobin.attribution.jobs.attribute``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.attribution import jobs  # noqa: E402

run_rule(snakemake, jobs.attribute)  # noqa: F821 (injected by Snakemake)
