"""Rule recovery: simulated key genes found in each ranking's top N, against chance (paper Fig. 2)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import anndata as ad
import pandas as pd

from scrobin.entrypoint import run_rule
from scrobin.evaluation import DE_RANKING
from scrobin.evaluation.figures import plot_recovery
from scrobin.evaluation.ground_truth import key_genes_from_anndata, recovery_table
from scrobin.tables import read_table, write_table


def main(snakemake, log):
    truth = key_genes_from_anndata(ad.read_h5ad(snakemake.input.prepared))
    de = read_table(snakemake.input.de)
    per_regime = {}
    for key, path in snakemake.input.items():
        if "__" in key:
            regime, method = key.split("__")
            per_regime.setdefault(regime, {})[method] = read_table(path)
    tables = [
        recovery_table({**rankings, DE_RANKING: de}, truth, top_n=snakemake.params.top_n, regime=regime)
        for regime, rankings in per_regime.items()
    ]
    table = pd.concat(tables, ignore_index=True)
    write_table(table, snakemake.output.table)
    plot_recovery(table, snakemake.output.figure)
    summary = table[table["cell_type"] == "all types"][["regime", "method", "recovered", "expected", "p_value"]]
    log.info("\n%s", summary.to_string(index=False))


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
