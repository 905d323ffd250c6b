"""Everything that can be known before any job, checked while Snakemake builds the DAG.

Each stage owns the checks of its own inputs (``scrobin.data.checks`` those of one dataset's
cells, which the ``prepare`` job runs too); this module, at the top of the package beside the
config, runs them on every configured source before any job starts, adds what only the whole
config knows (a dataset's genes against the enrichment's gene sets, the model's gene count
against the attribution budgets), and remembers what passed checks learnt so large files are
read once. ``docs/checks.md`` lists which check runs when.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd

from scrobin.errors import ScrobinError

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


def _check_key(name: str, spec, params, seed: int, base_dir) -> str:
    """Cache key of a source check: the files' identities plus everything the check reads."""
    from scrobin.data.datasets import source_kind

    kind = source_kind(spec["source"])
    queries = [query["source"] for query in spec.get("queries", {}).values()]
    files = ([spec["source"]] if kind == "h5ad" else []) + [spec[key] for key in ("labels_file", "markers") if key in spec]
    files += queries
    stamp: dict = {"name": name, "spec": spec, "params": params, "seed": seed, "files": []}
    for file in files:
        path = Path(base_dir) / file
        info = path.stat()
        stamp["files"].append([str(path.resolve()), info.st_size, info.st_mtime_ns])
    return hashlib.sha256(json.dumps(stamp, sort_keys=True, default=str).encode()).hexdigest()[:24]


def check_sources(config, cache_dir, base_dir=".") -> dict[str, dict]:
    """Check every dataset before any job runs, remembering what a passed check learnt.

    The workflow calls this while building the DAG, so bad data stops it before a job starts and
    before anything computed is touched. Per dataset (:func:`dataset_facts`): the file is an
    ``.h5ad`` (not truncated, a web page or a Cell Ranger file), its labels file, cells, labels
    and values pass ``scrobin.data.checks``, ``keep_genes`` and markers name its genes, and
    prepare's own code (``scrobin.data.prepare.prepare_cells``) selects the model's genes. What
    that learns is recorded under ``cache_dir``, keyed by the files' path, size and modification
    time and by the settings read, so large files are read once, not on every run; the checks of
    the config against those facts (the KernelSHAP budget against the model's genes) run every
    time. Each query of a dataset is checked against its reference
    (``scrobin.data.query.check_query_source``): bad cells, another input state or no gene in
    common stop the run; query labels the reference lacks are a warning. Nothing is written unless
    every check passes. Warnings (markers the model will not
    see) go to stderr as ``scrobin: warning: ...`` lines, one per dataset.

    Returns
    -------
    dict
        Dataset name -> its facts: ``model_genes`` (how many genes prepare selects) and
        ``warnings`` (lines).
    """
    cache = Path(cache_dir)
    facts, fresh = {}, {}
    for name, spec in config["datasets"].items():
        path = cache / _check_key(name, spec, [config["prepare"], config["enrichment"]], config["seed"], base_dir)
        facts[name] = _cached_facts(path)
        if facts[name] is None:
            facts[name] = fresh[path] = dataset_facts(name, spec, config, base_dir)
    check_attribution_budgets(config["attribution"]["methods"], facts)
    for path, learnt in fresh.items():
        cache.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(learnt))
    for learnt in facts.values():
        for line in learnt["warnings"]:
            sys.stderr.write(f"scrobin: warning: {line}\n")
    return facts


def _cached_facts(path: Path) -> dict | None:
    """The facts a passed check recorded, or None (never checked, or recorded by an older scrobin)."""
    try:
        facts = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return facts if isinstance(facts, dict) and {"model_genes", "warnings"} <= set(facts) else None


def dataset_facts(name: str, spec, config, base_dir=".") -> dict:
    """Check one dataset as ``prepare`` will see it and return what the checks learnt.

    Parameters
    ----------
    name, spec
        The dataset's name and validated spec.
    config
        The validated config (its ``prepare``, ``enrichment`` and ``seed``).
    base_dir
        Folder that relative paths start from.

    Returns
    -------
    dict
        ``model_genes``: the genes prepare selects (n_top_genes, the input's flags, keep_genes,
        all after gene filtering: computed by prepare's code, not estimated); ``warnings``: one
        line on markers outside the selected genes or absent from the data, and one per query
        whose labels the reference lacks, if any.

    Raises
    ------
    ScrobinError
        One line naming the dataset, the problem and the fix: the file, labels, values, gene
        names, markers, or no log-normalised values for the DE baseline (scaled input without
        ``.raw``: the whole comparison reads that baseline, so a run without it would fail
        after training and attribution).
    """
    from scrobin.data.checks import check_gene_selection, query_subject
    from scrobin.data.datasets import load_dataset, prepare_settings, source_kind
    from scrobin.data.markers import check_marker_genes, check_marker_types, read_markers, unselected_markers
    from scrobin.data.prepare import checked_cells, prepare_cells
    from scrobin.data.query import check_query_source, reference_gene_record
    from scrobin.prepared_layout import lognorm_expression

    params = prepare_settings(spec, config["prepare"])
    adata = load_dataset(spec, base_dir=base_dir, name=name)
    cells = checked_cells(adata, name, spec, params)
    symbols = spec.get("gene_symbols")
    check_gene_selection(cells.adata.var, name, cells.state, params, symbols)
    if source_kind(spec["source"]) != "simulate":
        check_gene_names(cells.adata.var, name, symbols, config["enrichment"])
    markers = None
    if "markers" in spec:
        markers = read_markers(Path(base_dir) / spec["markers"])
        # Against every annotated type: one dropped as rare is reported, not scored, by recovery.
        check_marker_types(markers, adata.obs[spec["label_key"]].astype(str), name, spec["markers"])
        _check_scored_types(markers, cells.labels, name)
        markers = check_marker_genes(markers, adata.var, symbols, name)
    prepared = prepare_cells(cells, name, spec, params, config["seed"])
    if lognorm_expression(prepared) is None:
        raw = "no .raw" if adata.raw is None else ".raw lacks some of the model's genes"
        raise ScrobinError(
            f"dataset '{name}': the input holds scaled values and {raw}, so there are no log-normalised values for the "
            f"DE baseline (rule de_baseline): start from counts or log-normalised values (datasets.{name}.layer, "
            f"datasets.{name}.use_raw, or the data saved before sc.pp.scale)"
        )
    line = None if markers is None else unselected_markers(markers, prepared.var_names, name)
    warnings = [] if line is None else [line]
    reference = reference_gene_record(cells.adata.var, cells.state, symbols)
    for query, query_spec in spec.get("queries", {}).items():
        query_cells = load_dataset(query_spec, base_dir=base_dir, name=f"{name}.queries.{query}")
        warnings += check_query_source(query_cells, query_spec, query_subject(name, query), reference,
                                       sorted(set(cells.labels)))
    return {"model_genes": int(prepared.n_vars), "warnings": warnings}


def _check_scored_types(markers, labels: pd.Series, name: str) -> None:
    """Refuse markers whose types are all dropped as rare: recovery would have nothing to score."""
    kept = set(labels.unique())
    if not any(cell_type in kept for cell_type in markers):
        raise ScrobinError(
            f"dataset '{name}': every cell type of the markers file is dropped as rare "
            f"({', '.join(map(repr, markers))}): lower min_cells_per_type or name kept types in the markers file"
        )


def check_attribution_budgets(methods, facts) -> None:
    """Refuse a sampling budget below what a method needs for a dataset's model genes.

    KernelSHAP needs a coalition per gene (``MethodSpec.min_samples``); the model's gene count
    (``facts[name]["model_genes"]``, :func:`dataset_facts`) is known before any job, so the
    ``attribute`` and ``stability`` jobs never find out after training. The budget is refused,
    not raised: the minimum leaves KernelSHAP's regression barely determined (its rankings far
    from converged, ``scrobin.attribution.kernel_shap.default_kernel_shap_samples``), so quietly
    raising ``n_samples`` to it would give poor attributions under the user's setting, and any
    larger value is a cost the user did not choose; the message names both fixes.

    Parameters
    ----------
    methods
        The validated ``attribution.methods`` section.
    facts
        Dataset name -> facts (``check_sources``).
    """
    from scrobin.attribution.registry import method_spec, split_method_entry, validate_method_config

    for method, entry in methods.items():
        spec = method_spec(method)
        if spec.min_samples is None:
            continue
        n_samples = validate_method_config(method, split_method_entry(method, entry)[0])["n_samples"]
        if n_samples is None:
            continue
        needed = {name: spec.min_samples(learnt["model_genes"]) for name, learnt in facts.items()}
        short = {name: need for name, need in needed.items() if n_samples < need}
        if short:
            name = max(short, key=short.get)
            raise ScrobinError(
                f"dataset '{name}': attribution.methods.{method}.n_samples is {n_samples} but the model has "
                f"{facts[name]['model_genes']:,} genes and {method} needs at least {short[name]:,} samples (one per "
                f"gene): set n_samples: null for the converged default, or {max(short.values()):,} or more"
            )
