"""Rule consensus: votes of the methods per gene and cell type, and the heatmap (the work is ``scrobin.attribution.jobs.consensus``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.attribution import jobs

run_rule(snakemake, jobs.consensus)  # noqa: F821 (injected by Snakemake)
