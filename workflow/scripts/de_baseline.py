"""Rule de_baseline: Wilcoxon DE ranking of each cell type against the rest (the work is ``scrobin.evaluation.jobs.de_baseline``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.evaluation import jobs  # noqa: E402

run_rule(snakemake, jobs.de_baseline)  # noqa: F821 (injected by Snakemake)
