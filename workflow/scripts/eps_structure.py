"""Rule eps_structure: how much structure attacked cells keep per eps, and the attack budget (the work is ``scrobin.robustness.jobs.eps_structure``)."""

from scrobin.entrypoint import limit_threads, run_rule

limit_threads(snakemake.threads)  # noqa: F821 (first: numpy and torch size their thread pools on import)
from scrobin.robustness import jobs  # noqa: E402

run_rule(snakemake, jobs.eps_structure)  # noqa: F821 (injected by Snakemake)
