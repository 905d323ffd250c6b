"""Gene-set enrichment of cell types' top genes: g:Profiler online, a GMT file offline.

``enrich(gene_lists, background, ...)`` returns one table with the same columns whichever backend
answered (``ENRICHMENT_COLUMNS``, described in ``scrobin.enrichment.table``) and an info dict that
records what ran. Modules: ``config`` (keys, defaults, validation), ``gprofiler`` (the service
client), ``cache`` (answers on disk), ``gmt`` (offline over-representation), ``stats``
(hypergeometric tail, BH and Bonferroni), ``analysis`` (backend choice and fallback), ``plots``.
"""

from scrobin.enrichment.analysis import enrich, enrich_with_config
from scrobin.enrichment.config import (
    BACKENDS,
    DEFAULTS,
    GPROFILER_SOURCES,
    SIGNIFICANCE_METHODS,
    validate_enrichment_config,
)
from scrobin.enrichment.gmt import read_gmt
from scrobin.enrichment.gprofiler import GProfilerUnavailable
from scrobin.enrichment.plots import plot_term_dots, plot_term_heatmap, term_matrix, write_dot_plots
from scrobin.enrichment.stats import benjamini_hochberg
from scrobin.enrichment.table import ENRICHMENT_COLUMNS

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
