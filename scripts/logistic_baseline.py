"""Rule logistic_baseline: the logistic-regression classifier every network is checked against (the work is ``scrobin.model.jobs.logistic_baseline``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.model import jobs

run_rule(snakemake, jobs.logistic_baseline)  # noqa: F821 (injected by Snakemake)
