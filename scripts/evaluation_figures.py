"""Rule evaluation_figures: every regime's evaluation in one table and figure each (the work is ``scrobin.evaluation.jobs.evaluation_figures``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.evaluation import jobs

run_rule(snakemake, jobs.evaluation_figures)  # noqa: F821 (injected by Snakemake)
