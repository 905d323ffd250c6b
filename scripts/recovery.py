"""Rule recovery: key genes (simulated truth or known markers) in each ranking's top N, against
chance (paper Fig. 2), for one replicate's model of one regime."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import anndata as ad

from scrobin.entrypoint import run_rule
from scrobin.evaluation import CONSENSUS, DE_RANKING
from scrobin.evaluation.ground_truth import ALL_TYPES, recovery_reference, recovery_table
from scrobin.tables import read_table, write_table


def main(snakemake, log):
    params, regime = snakemake.params, snakemake.wildcards.regime
    truth, source, notes = recovery_reference(ad.read_h5ad(snakemake.input.prepared, backed="r"),
                                              snakemake.input.get("markers"))
    log.info("key genes: %s (%d cell types, %d distinct genes)", source, len(truth),
             len({gene for genes in truth.values() for gene in genes}))
    for note in notes:
        log.info("%s", note)
    rankings = {method: read_table(snakemake.input[method]) for method in params.methods}
    rankings[CONSENSUS] = read_table(snakemake.input.consensus)
    rankings[DE_RANKING] = read_table(snakemake.input.de)
    table = recovery_table(rankings, truth, top_n=params.top_n, regime=regime, source=source)
    table.insert(0, "seed", params.seed)
    write_table(table, snakemake.output[0])
    summary = table[table["cell_type"] == ALL_TYPES][["method", "recovered", "expected", "p_value"]]
    log.info("\n%s", summary.to_string(index=False))


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
