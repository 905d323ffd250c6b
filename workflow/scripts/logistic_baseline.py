"""Rule logistic_baseline: the logistic-regression classifier every network is checked against (the work is ``scrobin.model.jobs.logistic_baseline``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.model import jobs  # noqa: E402

run_rule(snakemake, jobs.logistic_baseline)  # noqa: F821 (injected by Snakemake)
