"""The rule of ``workflow/rules/compare.smk``, called as ``run_rule(snakemake, jobs.compare)``."""

from __future__ import annotations

from scrobin.compare.figure import plot_comparison
from scrobin.compare.results import INPUT_KINDS
from scrobin.compare.summary import compare_run
from scrobin.tables import write_table


def compare(snakemake, log) -> None:
    """Rule ``compare``: every dataset and regime in one summary table, one per-method table, the
    adversarial-vs-standard differences over replicate seeds and one figure.

    Reads the inputs named in ``INPUT_KINDS`` (each a list of self-describing files, see
    :func:`scrobin.compare.results.load_results`).
    """
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
