"""Rule compare: every dataset and regime in one summary table, one per-method table, the
adversarial-vs-standard differences over replicate seeds and one figure."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

from scrobin.compare import INPUT_KINDS, compare_run, plot_comparison
from scrobin.entrypoint import run_rule
from scrobin.tables import write_table


def main(snakemake, log):
    params = snakemake.params
    inputs = {kind: list(snakemake.input.get(kind, [])) for kind in INPUT_KINDS}
    summary, methods, differences, lacking = compare_run(
        inputs, params.datasets, params.regimes, params.methods, params.attack
    )
    for line in lacking:
        log.info("not made by this run, NaN in the summary: %s", line)
    write_table(summary, snakemake.output.summary)
    write_table(methods, snakemake.output.methods)
    write_table(differences, snakemake.output.differences)
    plot_comparison(summary, snakemake.output.figure)
    log.info("\n%s", summary.set_index(["dataset", "regime"]).T.to_string())


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
