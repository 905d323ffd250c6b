"""Rule robustness: accuracy of one network under attack over the eps grid (the work is ``scrobin.robustness.jobs.robustness``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.robustness import jobs

run_rule(snakemake, jobs.robustness)  # noqa: F821 (injected by Snakemake)
