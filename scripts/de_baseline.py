"""Rule de_baseline: Wilcoxon DE ranking of each cell type against the rest (the work is ``scrobin.evaluation.jobs.de_baseline``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.evaluation import jobs

run_rule(snakemake, jobs.de_baseline)  # noqa: F821 (injected by Snakemake)
