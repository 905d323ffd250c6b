"""Rule prepare: load a dataset, check it, preprocess and split it into prepared.h5ad (the work is ``scrobin.data.jobs.prepare``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.data import jobs

run_rule(snakemake, jobs.prepare)  # noqa: F821 (injected by Snakemake)
