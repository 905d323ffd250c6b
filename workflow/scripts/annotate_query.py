"""Rule annotate_query: one query labelled by every model of a replicate (the work is ``scrobin.model.jobs.annotate_query``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.model import jobs  # noqa: E402

run_rule(snakemake, jobs.annotate_query)  # noqa: F821 (injected by Snakemake)
