"""Rule adv_train: fit an adversarially trained classifier at the attack budget (the work is ``scrobin.model.jobs.adv_train``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.model import jobs  # noqa: E402

run_rule(snakemake, jobs.adv_train)  # noqa: F821 (injected by Snakemake)
