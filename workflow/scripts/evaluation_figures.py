"""Rule evaluation_figures: every regime's evaluation in one table and figure each (the work is ``scrobin.evaluation.jobs.evaluation_figures``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.evaluation import jobs  # noqa: E402

run_rule(snakemake, jobs.evaluation_figures)  # noqa: F821 (injected by Snakemake)
