"""Gene-set enrichment of cell types' top genes: g:Profiler online, a GMT file offline.

``enrich(gene_lists, background, ...)`` returns one table with the same columns whichever backend
answered (``ENRICHMENT_COLUMNS``, described in ``scrobin.enrichment.table``) and an info dict that
records what ran. Modules: ``config`` (keys, defaults, validation), ``gprofiler`` (the service
client), ``cache`` (answers on disk), ``gmt`` (offline over-representation), ``stats``
(hypergeometric tail, BH and Bonferroni), ``analysis`` (backend choice and fallback), ``plots``.
"""

from importlib import import_module

# Each public name and the module that defines it. They load on first use, so validating the
# config (enrichment.config) does not import matplotlib, requests and the statistics stack.
_HOMES = {
    "enrich": "analysis",
    "enrich_with_config": "analysis",
    "BACKENDS": "config",
    "DEFAULTS": "config",
    "GPROFILER_SOURCES": "config",
    "SIGNIFICANCE_METHODS": "config",
    "validate_enrichment_config": "config",
    "read_gmt": "gmt",
    "GProfilerUnavailable": "gprofiler",
    "plot_term_dots": "plots",
    "plot_term_heatmap": "plots",
    "term_matrix": "plots",
    "write_dot_plots": "plots",
    "benjamini_hochberg": "stats",
    "ENRICHMENT_COLUMNS": "table",
}

__all__ = [
    "BACKENDS",
    "DEFAULTS",
    "ENRICHMENT_COLUMNS",
    "GPROFILER_SOURCES",
    "GProfilerUnavailable",
    "SIGNIFICANCE_METHODS",
    "benjamini_hochberg",
    "enrich",
    "enrich_with_config",
    "plot_term_dots",
    "plot_term_heatmap",
    "read_gmt",
    "term_matrix",
    "validate_enrichment_config",
    "write_dot_plots",
]


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(f"scrobin.enrichment.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'scrobin.enrichment' has no attribute {name!r}")
