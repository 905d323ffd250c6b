"""Rule adv_train: fit an adversarially trained classifier at the attack budget (the work is ``scrobin.model.jobs.adv_train``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.model import jobs

run_rule(snakemake, jobs.adv_train)  # noqa: F821 (injected by Snakemake)
