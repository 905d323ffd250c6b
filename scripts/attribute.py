"""Rule attribute: one method's attributions and importance table for one model (the work is ``scrobin.attribution.jobs.attribute``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.attribution import jobs

run_rule(snakemake, jobs.attribute)  # noqa: F821 (injected by Snakemake)
