"""Rule faithfulness: deletion and insertion curves of every ranking of one model (the work is ``scrobin.evaluation.jobs.faithfulness``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.evaluation import jobs  # noqa: E402

run_rule(snakemake, jobs.faithfulness)  # noqa: F821 (injected by Snakemake)
