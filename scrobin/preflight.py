"""Everything that can be known before any job, checked while Snakemake builds the DAG.

Each stage owns the checks of its own inputs (``scrobin.data.checks`` those of one dataset's
cells, which the ``prepare`` job runs too); this module, at the top of the package beside the
config, runs them on every configured source before any job starts, adds what only the whole
config knows (a dataset's genes against the enrichment's gene sets), and remembers passed checks
so large files are read once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pandas as pd

from scrobin.errors import ScrobinError

log = logging.getLogger(__name__)


def check_gene_names(var: pd.DataFrame, name: str, gene_symbols: str | None, enrichment: dict) -> None:
    """Refuse gene names no offline gene set knows when a var column holds symbols that it does.

    Ensembl or Entrez ids as ``var_names`` with the symbols in a var column (the CELLxGENE
    layout) would let the offline enrichment test nothing although the fix is one config line,
    which the message gives. Names that no column improves on pass: the enrichment table then
    says that no gene could be tested. g:Profiler maps identifiers itself, so a run with
    ``enrichment.backend: gprofiler`` is not checked.
    """
    from scrobin.enrichment.gmt import annotated_genes, read_gmt

    if enrichment["backend"] == "gprofiler":
        return
    gene_sets, sources = read_gmt(enrichment["gmt_path"]), enrichment["sources"]
    names = var.index if gene_symbols is None else var[gene_symbols].astype(str)
    if annotated_genes(list(names), gene_sets, sources):
        return
    candidates = {
        column: len(annotated_genes(list(var[column].astype(str)), gene_sets, sources))
        for column in var.columns
        if column != gene_symbols and not pd.api.types.is_numeric_dtype(var[column])
    }
    best = max(candidates, key=candidates.get, default=None)
    if best is None or not candidates[best]:
        return
    what = "var_names" if gene_symbols is None else f"var['{gene_symbols}']"
    raise ScrobinError(
        f"dataset '{name}': none of the {len(names)} gene names in {what} (e.g. '{names[0]}') is in a gene set of "
        f"{Path(enrichment['gmt_path']).name}, but {candidates[best]} of var['{best}'] are: "
        f"set datasets.{name}.gene_symbols: {best}"
    )


def _check_key(name: str, spec, params, seed: int, base_dir) -> str | None:
    """Cache key of a source check: the files' identities plus everything the check reads."""
    from scrobin.data.datasets import source_kind

    kind = source_kind(spec["source"])
    queries = [query["source"] for query in spec.get("queries", {}).values()]
    if kind == "simulate" and not queries:
        return None
    files = ([spec["source"]] if kind == "h5ad" else []) + [spec[key] for key in ("labels_file", "markers") if key in spec]
    files += queries
    stamp: dict = {"name": name, "spec": spec, "params": params, "seed": seed, "files": []}
    for file in files:
        path = Path(base_dir) / file
        info = path.stat()
        stamp["files"].append([str(path.resolve()), info.st_size, info.st_mtime_ns])
    return hashlib.sha256(json.dumps(stamp, sort_keys=True, default=str).encode()).hexdigest()[:24]


def check_sources(config, cache_dir, base_dir=".") -> None:
    """Check every dataset's cells before any job runs, remembering files already checked.

    The workflow calls this while building the DAG, so bad data stops it before a job starts and
    before anything computed is touched. A passed check is recorded under ``cache_dir`` keyed by
    the file's path, size and modification time, so large files are read once, not on every run.
    Simulations are valid by construction and only have their parameters checked. Each query
    of a dataset is checked against its reference (``scrobin.data.query.check_query_source``):
    bad cells, another input state or no gene in common stop the run; query labels the reference
    lacks are logged as a warning.
    """
    from scrobin.data.checks import check_gene_selection, query_subject
    from scrobin.data.datasets import load_dataset, prepare_settings, source_kind
    from scrobin.data.markers import check_marker_types, read_markers
    from scrobin.data.prepare import checked_cells
    from scrobin.data.query import check_query_source, reference_gene_record
    from scrobin.data.simulate import simulated_gene_names

    cache = Path(cache_dir)
    for name, spec in config["datasets"].items():
        params = prepare_settings(spec, config["prepare"])
        if source_kind(spec["source"]) == "simulate":
            genes = pd.DataFrame(index=simulated_gene_names(spec["simulation"]["n_genes"]))
            check_gene_selection(genes, name, "counts", params)
        key = _check_key(name, spec, [config["prepare"], config["enrichment"]], config["seed"], base_dir)
        if key is None or (cache / key).exists():
            continue
        adata = load_dataset(spec, base_dir=base_dir, name=name)
        cells = checked_cells(adata, name, spec, params)
        check_gene_selection(cells.adata.var, name, cells.state, params)
        check_gene_names(cells.adata.var, name, spec.get("gene_symbols"), config["enrichment"])
        if "markers" in spec:
            # Against every annotated type: one dropped as rare is reported, not scored, by recovery.
            check_marker_types(read_markers(Path(base_dir) / spec["markers"]), adata.obs[spec["label_key"]].astype(str),
                               name, spec["markers"])
        reference = reference_gene_record(cells.adata.var, cells.state, spec.get("gene_symbols"))
        for query, query_spec in spec.get("queries", {}).items():
            query_cells = load_dataset(query_spec, base_dir=base_dir, name=f"{name}.queries.{query}")
            for warning in check_query_source(query_cells, query_spec, query_subject(name, query), reference,
                                              sorted(set(cells.labels))):
                log.warning("%s", warning)
        cache.mkdir(parents=True, exist_ok=True)
        (cache / key).write_text(name + "\n")
