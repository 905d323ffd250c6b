"""Rule de_overlap: top DE genes vs top consensus genes per cell type (the work is ``scrobin.evaluation.jobs.de_overlap``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.evaluation import jobs  # noqa: E402

run_rule(snakemake, jobs.de_overlap)  # noqa: F821 (injected by Snakemake)
