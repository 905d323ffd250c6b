"""Rule recovery: key genes (simulated truth or known markers) in each ranking's top N, against chance (paper Fig. 2)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import anndata as ad
import pandas as pd

from scrobin.entrypoint import run_rule
from scrobin.evaluation import DE_RANKING
from scrobin.evaluation.figures import plot_recovery
from scrobin.evaluation.ground_truth import recovery_reference, recovery_table
from scrobin.tables import read_table, write_table


def main(snakemake, log):
    markers = snakemake.input.get("markers")
    truth, source, notes = recovery_reference(ad.read_h5ad(snakemake.input.prepared), markers)
    log.info("key genes: %s (%d cell types, %d distinct genes)", source, len(truth),
             len({gene for genes in truth.values() for gene in genes}))
    for note in notes:
        log.info("%s", note)
    de = read_table(snakemake.input.de)
    per_regime = {}
    for key, path in snakemake.input.items():
        if "__" in key:
            regime, method = key.split("__")
            per_regime.setdefault(regime, {})[method] = read_table(path)
    tables = [
        recovery_table({**rankings, DE_RANKING: de}, truth, top_n=snakemake.params.top_n, regime=regime,
                       source=source)
        for regime, rankings in per_regime.items()
    ]
    table = pd.concat(tables, ignore_index=True)
    write_table(table, snakemake.output.table)
    plot_recovery(table, snakemake.output.figure)
    summary = table[table["cell_type"] == "all types"][["regime", "method", "recovered", "expected", "p_value"]]
    log.info("\n%s", summary.to_string(index=False))


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
