"""The ``enrichment`` config block: its keys, defaults, and the boundary check with one-line errors.

The same check runs when ``enrich`` is called directly, so a bad value fails before any HTTP
request or file read, with a message that names the key and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from scrobin.schema import schema_defaults
from scrobin.enrichment.gmt import gmt_sources, read_gmt
from scrobin.errors import ScrobinError

BACKENDS = ("auto", "gprofiler", "gmt")
# g:GOSt data-source codes (https://biit.cs.ut.ee/gprofiler/page/docs).
GPROFILER_SOURCES = ("GO:BP", "GO:CC", "GO:MF", "KEGG", "REAC", "WP", "TF", "MIRNA", "HPA", "CORUM", "HP")
SIGNIFICANCE_METHODS = ("g_SCS", "fdr", "bonferroni")
# Every enrichment key and its default, as the config schema writes them (the one place they are).
DEFAULTS: dict[str, object] = schema_defaults("enrichment")
# The settings the g:Profiler backend takes from the validated config.
SERVICE_KEYS = (
    "sources",
    "significance_method",
    "threshold",
    "all_results",
    "gprofiler_url",
    "timeout_s",
    "max_attempts",
    "backoff_s",
    "cache_dir",
)
# The keys `enrich` takes: the backend, the service's and the offline GMT test's; the rest choose
# the gene lists and size the figures.
ENRICH_KEYS = ("backend", *SERVICE_KEYS, "gmt_path", "min_set_size", "max_set_size")
_ORGANISM = re.compile(r"^[a-z]+$")


def validate_enrichment_config(cfg: Mapping | None) -> dict:
    """Check the ``enrichment`` block and return it with defaults filled in.

    Raises ``ScrobinError`` (one line) for an unknown key or backend, an unknown source or
    significance method, a threshold outside (0, 1], bad sizes, timeouts or attempt counts, a
    GMT file that is missing (when the backend may use it) or has none of the requested sources,
    and g:SCS requested from the offline backend (it needs g:Profiler's annotation structure).
    """
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ScrobinError(f"enrichment key '{unknown[0]}' is unknown: use one of {', '.join(DEFAULTS)}")
    settings = {**DEFAULTS, **cfg}

    _check_choice("backend", settings["backend"], BACKENDS)
    _check_choice("significance_method", settings["significance_method"], SIGNIFICANCE_METHODS)
    sources = settings["sources"]
    if isinstance(sources, str) or not isinstance(sources, (list, tuple)) or not sources:
        raise ScrobinError("enrichment.sources must be a non-empty list: e.g. [GO:BP, GO:CC, REAC]")
    for source in sources:
        _check_choice("sources", source, GPROFILER_SOURCES)
    if len(set(sources)) != len(sources):
        raise ScrobinError("enrichment.sources lists a source twice: list each source once")
    settings["sources"] = list(sources)

    threshold = settings["threshold"]
    if not _is_number(threshold) or not 0 < threshold <= 1:
        raise ScrobinError(f"enrichment.threshold {threshold!r} is not in (0, 1]: use e.g. 0.05")
    if not isinstance(settings["all_results"], bool):
        raise ScrobinError(f"enrichment.all_results {settings['all_results']!r} is not a boolean: use true or false")
    for key in ("min_set_size", "max_attempts", "top_genes", "dotplot_max_terms", "heatmap_max_terms"):
        _check_positive_int(key, settings[key])
    _check_positive_int("max_set_size", settings["max_set_size"])
    if settings["max_set_size"] < settings["min_set_size"]:
        raise ScrobinError("enrichment.max_set_size is below min_set_size: raise max_set_size or lower min_set_size")
    timeout_s, backoff_s = settings["timeout_s"], settings["backoff_s"]
    if not _is_number(timeout_s) or timeout_s <= 0:
        raise ScrobinError(f"enrichment.timeout_s {timeout_s!r} is not a positive number: use seconds, e.g. 30")
    if not _is_number(backoff_s) or backoff_s < 0:
        raise ScrobinError(f"enrichment.backoff_s {backoff_s!r} is not a number >= 0: use seconds, e.g. 1.0")
    url = settings["gprofiler_url"]
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ScrobinError(f"enrichment.gprofiler_url {url!r} is not an http(s) URL: use {DEFAULTS['gprofiler_url']}")
    cache_dir = settings["cache_dir"]
    if cache_dir is not None and not isinstance(cache_dir, str):
        raise ScrobinError(f"enrichment.cache_dir {cache_dir!r} is not a path: use a folder, or null for no cache")

    if settings["backend"] != "gprofiler":
        _check_offline(settings)
    return settings


def validate_organism(organism: object) -> str:
    """Check a g:Profiler organism id (lower-case letters, e.g. hsapiens, mmusculus)."""
    if not isinstance(organism, str) or not _ORGANISM.match(organism):
        raise ScrobinError(f"organism {organism!r} is not a g:Profiler organism id: use e.g. hsapiens or mmusculus")
    return organism


def _check_offline(settings: dict) -> None:
    """The GMT must exist and offer a requested source; g:SCS cannot be computed offline."""
    if settings["backend"] == "gmt" and settings["significance_method"] == "g_SCS":
        raise ScrobinError(
            "enrichment.significance_method g_SCS needs g:Profiler: use fdr or bonferroni with backend gmt"
        )
    gmt_path = settings["gmt_path"]
    if not isinstance(gmt_path, str) or not Path(gmt_path).is_file():
        raise ScrobinError(
            f"enrichment.gmt_path '{gmt_path}' does not exist: point it at a GMT file "
            f"(shipped: {DEFAULTS['gmt_path']}) or set backend: gprofiler"
        )
    offered = gmt_sources(read_gmt(gmt_path))
    if not offered:
        raise ScrobinError(
            f"GMT file '{gmt_path}' has no set named with a known prefix (REACTOME_, WP_, GOBP_, ...): "
            "rename its sets or set backend: gprofiler"
        )
    if not offered.intersection(settings["sources"]):
        raise ScrobinError(
            f"GMT file '{gmt_path}' has no sets for enrichment.sources {settings['sources']}: "
            f"add one of {', '.join(sorted(offered))} to sources"
        )


def _check_choice(key: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ScrobinError(f"enrichment.{key} '{value}' is unknown: use one of {', '.join(choices)}")


def _check_positive_int(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ScrobinError(f"enrichment.{key} {value!r} is not a positive integer: use a whole number >= 1")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
