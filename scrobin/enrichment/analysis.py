"""``enrich``: pick the backend, fall back loudly, and return the common table plus a run record.

``auto`` asks g:Profiler first and, only when the service cannot answer (refused connection,
timeout, 5xx or 429 after the retries, garbled answer), runs the offline GMT analysis instead. The
fallback is never silent: a logged warning, a ``note`` on every row and ``info["fallback_reason"]``
for the report. A query g:Profiler rejects (4xx) is a configuration error and is raised, not
papered over by the fallback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from scrobin.enrichment.config import DEFAULTS, ENRICH_KEYS, SERVICE_KEYS, validate_enrichment_config, validate_organism
from scrobin.enrichment.gmt import annotated_genes, over_representation, read_gmt
from scrobin.enrichment.gprofiler import GProfilerUnavailable, query_gprofiler
from scrobin.enrichment.table import NOT_TESTED, finalize_table, not_tested_rows
from scrobin.errors import ScrobinError

_HUMAN = "hsapiens"
# Below this share of the background in the gene sets, the names are probably not the library's
# symbols (typically 60-80% of a panel's symbols are annotated); the results then say so.
LOW_OVERLAP = 0.25


def enrich(
    gene_lists: Mapping[str, list[str]],
    background: list[str],
    *,
    organism: str = _HUMAN,
    backend: str = DEFAULTS["backend"],
    sources: Sequence[str] = tuple(DEFAULTS["sources"]),
    significance_method: str = DEFAULTS["significance_method"],
    threshold: float = DEFAULTS["threshold"],
    all_results: bool = DEFAULTS["all_results"],
    gmt_path: str | Path = DEFAULTS["gmt_path"],
    min_set_size: int = DEFAULTS["min_set_size"],
    max_set_size: int = DEFAULTS["max_set_size"],
    gprofiler_url: str = DEFAULTS["gprofiler_url"],
    timeout_s: float = DEFAULTS["timeout_s"],
    max_attempts: int = DEFAULTS["max_attempts"],
    backoff_s: float = DEFAULTS["backoff_s"],
    cache_dir: str | Path | None = None,
    log: logging.Logger | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Enrich each gene list (e.g. a cell type's top genes) against the genes the model saw.

    Parameters
    ----------
    gene_lists
        Query name (cell type) -> genes, every gene inside ``background``; duplicates are dropped.
    background
        The statistical background: the model's genes, so a term is not called enriched merely
        because the gene panel itself is biased toward it.
    organism
        g:Profiler organism id (hsapiens, mmusculus, ...). The GMT backend's sets are human; other
        organisms are matched by upper-cased symbol (homology by name), which ``info`` notes.
    backend
        'auto' (g:Profiler, falling back to the GMT when unreachable), 'gprofiler' or 'gmt'.
    sources, significance_method, threshold, all_results
        g:Profiler's sources, correction ('g_SCS', 'fdr' = Benjamini-Hochberg, 'bonferroni'),
        adjusted p-value threshold, and whether to report non-significant terms too. Offline,
        g_SCS is replaced by fdr (noted in ``info``).
    gmt_path, min_set_size, max_set_size
        The offline gene-set file and the set-size filter (counted inside the background; GMT only).
    gprofiler_url, timeout_s, max_attempts, backoff_s, cache_dir
        Service address, per-attempt timeout, attempts, first back-off delay, and the folder of
        cached answers (None, the default here: no cache; the workflow config defaults to
        ``.scrobin_cache/gprofiler``).
    log
        Logger for retries and the fallback warning (default: this module's).

    Returns
    -------
    table, info
        ``table`` has ``ENRICHMENT_COLUMNS`` (see ``scrobin.enrichment.table``); ``info`` records
        what ran: ``backend``, ``requested_backend``, ``fallback_reason`` (None unless ``auto``
        fell back), ``organism``, ``sources``, ``significance_method`` (as applied), ``threshold``,
        ``background_size``, ``query_sizes``, ``notes`` (list of sentences for the report), plus
        the backend's own keys (cache state and data version for g:Profiler; sets tested, domain
        sizes and sources the GMT lacks for the GMT). Every value is JSON-serialisable, so the
        dict can be written next to the table as the run's record.
    """
    log = log or logging.getLogger(__name__)
    settings = validate_enrichment_config(
        {
            "backend": backend,
            "sources": list(sources),
            "significance_method": significance_method,
            "threshold": threshold,
            "all_results": all_results,
            "gmt_path": str(gmt_path),
            "min_set_size": min_set_size,
            "max_set_size": max_set_size,
            "gprofiler_url": gprofiler_url,
            "timeout_s": timeout_s,
            "max_attempts": max_attempts,
            "backoff_s": backoff_s,
            "cache_dir": None if cache_dir is None else str(cache_dir),
        }
    )
    validate_organism(organism)
    gmt_path = settings["gmt_path"]  # resolved: the working directory's file, else the shipped one
    gene_lists, background = _checked_inputs(gene_lists, background)
    info = {
        "requested_backend": backend,
        "fallback_reason": None,
        "organism": organism,
        "sources": settings["sources"],
        "threshold": threshold,
        "background_size": len(background),
        "query_sizes": {name: len(genes) for name, genes in gene_lists.items()},
        "notes": [],
    }
    note = ""
    if backend in ("auto", "gprofiler"):
        try:
            rows, service_info = query_gprofiler(
                gene_lists,
                background,
                organism=organism,
                log=log,
                **{key: settings[key] for key in SERVICE_KEYS},
            )
        except GProfilerUnavailable as error:
            if backend == "gprofiler":
                raise
            info["fallback_reason"] = error.reason
            note = f"fallback: {error.reason}"
            log.warning("g:Profiler unavailable (%s); using the offline gene sets in %s", error.reason, gmt_path)
            info["notes"].append(f"g:Profiler could not be reached ({error.reason}); offline GMT results instead.")
        else:
            info.update(service_info, backend="gprofiler", significance_method=significance_method)
            return finalize_table(rows, "gprofiler"), info

    correction = "fdr" if significance_method == "g_SCS" else significance_method
    if correction != significance_method:
        info["notes"].append("g:SCS needs g:Profiler's annotation structure; Benjamini-Hochberg FDR used offline.")
    if organism != _HUMAN:
        info["notes"].append(
            f"The GMT gene sets are human; {organism} symbols were matched upper-cased (homology by symbol)."
        )
    gene_sets = read_gmt(gmt_path)
    note = "; ".join(filter(None, [note, _overlap_note(background, gene_sets, settings["sources"], gmt_path, info, log)]))
    rows, gmt_info = over_representation(
        gene_lists,
        background,
        gene_sets,
        sources=settings["sources"],
        correction=correction,
        threshold=threshold,
        all_results=all_results,
        min_set_size=min_set_size,
        max_set_size=max_set_size,
    )
    if gmt_info["sources_missing_from_gmt"]:
        info["notes"].append(
            f"The GMT has no {', '.join(gmt_info['sources_missing_from_gmt'])} sets; those sources were not tested."
        )
    info.update(gmt_info, backend="gmt", significance_method=correction, gmt_path=str(gmt_path))
    if not info["background_annotated"]:
        rows = not_tested_rows(list(gene_lists))
    return finalize_table(rows, "gmt", note), info


def _overlap_note(background: list[str], gene_sets, sources: list[str], gmt_path, info: dict, log) -> str:
    """Note (and log) a background the gene sets barely cover, or not at all.

    A background no set of ``sources`` holds means no gene could be tested, which must not
    read as "no significant terms": the note starts with ``NOT_TESTED`` and ``enrich`` then
    returns one row per query carrying it.
    """
    annotated = annotated_genes(background, gene_sets, sources)
    info["background_annotated"] = len(annotated)
    name = Path(gmt_path).name
    fix = "if the genes are identifiers, set the dataset's gene_symbols to the var column of symbols"
    if not annotated:
        message = (
            f"{NOT_TESTED}: none of the {len(background)} genes (e.g. {background[0]!r}) is in a "
            f"{'/'.join(sources)} gene set of {name}; {fix}"
        )
    elif len(annotated) < LOW_OVERLAP * len(background):
        message = f"low gene-set overlap: only {len(annotated)} of {len(background)} genes are in a gene set of {name}; {fix}"
    else:
        return ""
    log.warning("%s", message)
    info["notes"].append(message)
    return message


def enrich_with_config(
    gene_lists: Mapping[str, list[str]],
    background: list[str],
    organism: str,
    cfg: Mapping | None,
    log: logging.Logger | None = None,
) -> tuple[pd.DataFrame, dict]:
    """``enrich`` driven by the workflow's ``enrichment`` config block (validated, defaults filled)."""
    settings = validate_enrichment_config(cfg)
    return enrich(gene_lists, background, organism=organism, log=log, **{key: settings[key] for key in ENRICH_KEYS})


def _checked_inputs(
    gene_lists: Mapping[str, list[str]], background: list[str]
) -> tuple[dict[str, list[str]], list[str]]:
    """Deduplicate the lists (keeping order) and insist every query gene is in the background.

    A query gene outside the background means the lists and the model disagree about the genes,
    which would silently change the statistics, so it is refused rather than dropped.
    """
    if isinstance(background, str) or not background or not all(isinstance(gene, str) for gene in background):
        raise ScrobinError("background must be a non-empty list of gene symbols: pass the model's genes")
    background = list(dict.fromkeys(background))
    if not gene_lists:
        raise ScrobinError("no gene lists to enrich: pass a mapping cell type -> genes")
    known = set(background)
    checked = {}
    for name, genes in gene_lists.items():
        if not isinstance(name, str) or not name:
            raise ScrobinError(f"gene list name {name!r} is not a non-empty string: name each list by its cell type")
        if isinstance(genes, str) or not genes:
            raise ScrobinError(f"gene list '{name}' is empty or a string: pass a list of gene symbols")
        outside = [gene for gene in genes if gene not in known]
        if outside:
            raise ScrobinError(
                f"gene list '{name}' has {len(outside)} gene(s) outside the background (e.g. {outside[0]!r}): "
                "take the lists and the background from the same model"
            )
        checked[name] = list(dict.fromkeys(genes))
    return checked, background
