"""Rule enrich: pathways of each cell type's top consensus genes (the work is ``scrobin.enrichment.jobs.enrich``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.enrichment import jobs  # noqa: E402

run_rule(snakemake, jobs.enrich)  # noqa: F821 (injected by Snakemake)
