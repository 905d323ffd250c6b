"""The rule of ``workflow/rules/compare.smk``, called as ``run_rule(snakemake, jobs.compare)``."""

from __future__ import annotations

from pathlib import Path

from scrobin.compare.figure import plot_comparison
from scrobin.compare.results import INPUT_KINDS
from scrobin.compare.summary import compare_run
from scrobin.compare.verdict import render_html, render_rst, verdict_blocks
from scrobin.tables import write_table, write_table_view

# What each comparison table holds, for the top of its HTML view.
VIEW_NOTES = {
    "summary": "One row per dataset and training regime: every stage's headline number (means over seeds; "
               "<column>_sd the standard deviation over seeds). The verdict states what they mean.",
    "methods": "One row per dataset, regime and gene ranking (each attribution method, the consensus, the "
               "baselines): known genes recovered, faithfulness, stability and the sanity checks.",
    "differences": "Each robust regime minus the standard model, paired by seed, with the Student-t interval "
                   "(empty with one seed: no interval can be given).",
}


def compare(snakemake, log) -> None:
    """Rule ``compare``: every dataset and regime in one summary table (and its rows per seed), one
    per-method table, the adversarial-vs-standard differences over replicate seeds, one figure, and
    the verdict (``verdict.html`` to read or send, ``verdict.rst`` for the report's first page).

    Reads the inputs named in ``INPUT_KINDS`` (each a list of self-describing files, see
    :func:`scrobin.compare.results.load_results`); each table is written as TSV and as an HTML view.
    """
    params = snakemake.params
    inputs = {kind: list(snakemake.input.get(kind, [])) for kind in INPUT_KINDS}
    comparison = compare_run(inputs, params.datasets, params.regimes, params.methods, params.attack)
    for line in comparison.lacking:
        log.info("not made by this run, empty in the summary: %s", line)
    for name in ("summary", "methods", "differences"):
        table = getattr(comparison, name)
        write_table(table, snakemake.output[name])
        write_table_view(table, snakemake.output[f"{name}_view"], f"Comparison: {name}", VIEW_NOTES[name])
    write_table(comparison.per_seed, snakemake.output.replicates)
    plot_comparison(comparison.summary, snakemake.output.figure)
    blocks = verdict_blocks(comparison.summary, comparison.per_seed, comparison.methods, comparison.consensus,
                            params.verdict, comparison.radius)
    Path(snakemake.output.verdict_rst).write_text(render_rst(blocks))
    Path(snakemake.output.verdict).write_text(render_html(blocks))
    log.info("\n%s", comparison.summary.set_index(["dataset", "regime"]).T.to_string())
