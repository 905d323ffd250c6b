"""Rule recovery: key genes (simulated truth or known markers) in each ranking's top N, against
chance (paper Fig. 2), for every replicate and regime of a dataset."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import anndata as ad
import pandas as pd

from scrobin.entrypoint import run_rule
from scrobin.evaluation import CONSENSUS, DE_RANKING
from scrobin.evaluation.figures import plot_recovery
from scrobin.evaluation.ground_truth import ALL_TYPES, recovery_reference, recovery_table
from scrobin.tables import labels_of, read_table, write_table


def main(snakemake, log):
    truth, source, notes = recovery_reference(ad.read_h5ad(snakemake.input.prepared, backed="r"),
                                              snakemake.input.get("markers"))
    log.info("key genes: %s (%d cell types, %d distinct genes)", source, len(truth),
             len({gene for genes in truth.values() for gene in genes}))
    for note in notes:
        log.info("%s", note)
    # Every ranking table names its replicate seed, regime and method (the consensus: seed, regime).
    rankings = {}
    for path in snakemake.input.importance:
        table = read_table(path)
        seed, regime, method = labels_of(table, "seed", "regime", "method")
        rankings.setdefault((seed, regime), {})[method] = table
    for path in snakemake.input.consensus:
        table = read_table(path)
        rankings[labels_of(table, "seed", "regime")][CONSENSUS] = table
    de = read_table(snakemake.input.de)
    tables = [
        recovery_table({**by_method, DE_RANKING: de}, truth, top_n=snakemake.params.top_n, regime=regime,
                       source=source).assign(seed=seed)
        for (seed, regime), by_method in rankings.items()
    ]
    table = pd.concat(tables, ignore_index=True)
    table = table[["seed", *table.columns.drop("seed")]]
    table.insert(0, "dataset", snakemake.wildcards.ds)
    write_table(table, snakemake.output.table)
    plot_recovery(table, snakemake.output.figure)
    summary = table[table["cell_type"] == ALL_TYPES][["seed", "regime", "method", "recovered", "expected", "p_value"]]
    log.info("\n%s", summary.to_string(index=False))


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
