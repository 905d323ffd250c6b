"""Rule de_overlap: top DE genes vs top consensus genes per cell type (the work is ``scrobin.evaluation.jobs.de_overlap``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.evaluation import jobs

run_rule(snakemake, jobs.de_overlap)  # noqa: F821 (injected by Snakemake)
