"""Rule eps_structure: how much structure attacked cells keep per eps, and the attack budget (the work is ``scrobin.robustness.jobs.eps_structure``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.robustness import jobs

run_rule(snakemake, jobs.eps_structure)  # noqa: F821 (injected by Snakemake)
