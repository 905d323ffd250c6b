"""Rule consensus: votes of the methods per gene and cell type, and the heatmap (the work is ``scrobin.attribution.jobs.consensus``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.attribution import jobs  # noqa: E402

run_rule(snakemake, jobs.consensus)  # noqa: F821 (injected by Snakemake)
