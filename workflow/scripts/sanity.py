"""Rule sanity: do the explanations change when the model is randomised? (the work is ``scrobin.evaluation.jobs.sanity``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.evaluation import jobs  # noqa: E402

run_rule(snakemake, jobs.sanity)  # noqa: F821 (injected by Snakemake)
