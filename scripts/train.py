"""Rule train: fit the standard classifier, evaluate it on the test split, save it (the work is ``scrobin.model.jobs.train``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.model import jobs

run_rule(snakemake, jobs.train)  # noqa: F821 (injected by Snakemake)
