"""Rule recovery: key genes recovered by every ranking, against chance (the work is ``scrobin.evaluation.jobs.recovery``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.evaluation import jobs

run_rule(snakemake, jobs.recovery)  # noqa: F821 (injected by Snakemake)
