"""Rule enrich: pathways of each cell type's top consensus genes (the work is ``scrobin.enrichment.jobs.enrich``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.enrichment import jobs

run_rule(snakemake, jobs.enrich)  # noqa: F821 (injected by Snakemake)
