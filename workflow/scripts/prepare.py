"""Rule prepare: load a dataset, check it, preprocess and split it into prepared.h5ad (the work is ``scrobin.data.jobs.prepare``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.data import jobs  # noqa: E402

run_rule(snakemake, jobs.prepare)  # noqa: F821 (injected by Snakemake)
