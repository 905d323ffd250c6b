"""Rule recovery: key genes recovered by every ranking, against chance (the work is ``scrobin.evaluation.jobs.recovery``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.evaluation import jobs  # noqa: E402

run_rule(snakemake, jobs.recovery)  # noqa: F821 (injected by Snakemake)
