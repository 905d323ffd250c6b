"""Rule stability: sensitivity and infidelity of every method on one model (the work is ``scrobin.evaluation.jobs.stability``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.evaluation import jobs

run_rule(snakemake, jobs.stability)  # noqa: F821 (injected by Snakemake)
