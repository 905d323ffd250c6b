"""Rule consensus: votes of the methods per gene and cell type, and the heatmap (the work is ``scrobin.attribution.jobs.consensus``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.attribution import jobs  # noqa: E402

run_rule(snakemake, jobs.consensus)  # noqa: F821 (injected by Snakemake)
