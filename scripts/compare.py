"""Rule compare: every dataset and regime in one summary table, one per-method table and one figure."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.compare import compare_run, plot_comparison
from scrobin.entrypoint import run_rule
from scrobin.tables import write_table


def main(snakemake, log):
    params = snakemake.params
    # The comparison lives next to the dataset folders it reads: results/comparison/ -> results/.
    results_dir = Path(snakemake.output.summary).parents[1]
    summary, methods, absent = compare_run(
        results_dir, params.datasets, params.regimes, params.methods, params.attack
    )
    for path in absent:
        log.info("not made by this run, NaN in the summary: %s", path)
    write_table(summary, snakemake.output.summary)
    write_table(methods, snakemake.output.methods)
    plot_comparison(summary, snakemake.output.figure)
    log.info("\n%s", summary.set_index(["dataset", "regime"]).T.to_string())


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
