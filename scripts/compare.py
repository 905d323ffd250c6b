"""Rule compare: every dataset and regime side by side (the work is ``scrobin.compare.jobs.compare``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.compare import jobs
from scrobin.entrypoint import run_rule

run_rule(snakemake, jobs.compare)  # noqa: F821 (injected by Snakemake)
