"""Rule celltypist: CellTypist trained on the same cells, its test and query accuracy, exact robust accuracy and markers (the work is ``scrobin.model.jobs.celltypist``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.model import jobs  # noqa: E402

run_rule(snakemake, jobs.celltypist)  # noqa: F821 (injected by Snakemake)
