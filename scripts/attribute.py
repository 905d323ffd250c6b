"""Rule attribute: one method's per-cell attributions for one model (cells x genes h5ad) and, from
them, the per-type importance table (written here: a job of its own would spend longer starting
than computing)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import anndata as ad

from scrobin.contract import ATTRIBUTION_KEY
from scrobin.attribution.jobs import attribute_cells
from scrobin.entrypoint import run_rule
from scrobin.attribution.importance import direction_from_prepared, ranked_importance
from scrobin.model.check import MODEL_FLAG_COLUMN, explainable_model_flag
from scrobin.model.store import load_model_for
from scrobin.runtime import resolve_device
from scrobin.tables import with_gene_symbols, write_table


def main(snakemake, log):
    params = snakemake.params
    prepared = ad.read_h5ad(snakemake.input.prepared)
    model, metadata = load_model_for(snakemake.input.model, prepared, resolve_device(params.device))
    flag = explainable_model_flag(metadata, params.on_flag)
    if flag:
        log.warning("explaining a flagged %s model: %s", metadata["regime"], flag)
    result = attribute_cells(
        model, prepared, snakemake.wildcards.method, params.entry, params.cells_per_type, params.target,
        params.seed, params.device,
    )
    info = result.uns[ATTRIBUTION_KEY]
    info[MODEL_FLAG_COLUMN] = flag
    log.info("%s on %d cells x %d genes in %.2f s", snakemake.wildcards.method, result.n_obs, result.n_vars, info["runtime_seconds"])
    result.write_h5ad(snakemake.output.attributions, compression="gzip")
    table = ranked_importance(result, direction_from_prepared(prepared), params.importance)
    table[MODEL_FLAG_COLUMN] = flag
    write_table(with_gene_symbols(table, prepared.var), snakemake.output.importance)


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
