"""Rule faithfulness: deletion and insertion curves of every ranking of one model (the work is ``scrobin.evaluation.jobs.faithfulness``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.entrypoint import run_rule
from scrobin.evaluation import jobs

run_rule(snakemake, jobs.faithfulness)  # noqa: F821 (injected by Snakemake)
