"""Rule robustness_curves: every model's sweep in one table and two figures (the work is ``scrobin.robustness.jobs.robustness_curves``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.robustness import jobs

run_rule(snakemake, jobs.robustness_curves)  # noqa: F821 (injected by Snakemake)
