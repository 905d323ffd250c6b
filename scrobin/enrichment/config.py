"""Stage ``enrichment``'s config: the ``enrichment`` section's schema fragment, defaults and the
boundary check with one-line errors.

The same check runs when ``enrich`` is called directly, so a bad value fails before any HTTP
request or file read, with a message that names the key and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from scrobin.enrichment.gmt import gmt_sources, read_gmt
from scrobin.errors import ScrobinError
from scrobin.paths import resolve_path
from scrobin.schema import checked_setting, load_fragment, section_choices, section_defaults, validate_section

# The stage's schema fragment (config.schema.yaml beside this file): the one place its keys,
# choices and defaults are written.
SCHEMA = load_fragment(Path(__file__).parent)
BACKENDS = section_choices(SCHEMA, "enrichment", "backend")
# g:GOSt data-source codes (https://biit.cs.ut.ee/gprofiler/page/docs).
GPROFILER_SOURCES = section_choices(SCHEMA, "enrichment", "sources")
SIGNIFICANCE_METHODS = section_choices(SCHEMA, "enrichment", "significance_method")
DEFAULTS: dict[str, object] = section_defaults(SCHEMA, "enrichment")
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

    The config schema checks keys, types, ranges and choices and fills the defaults
    (:func:`scrobin.schema.validate_section`, the same check as the workflow's); here only what
    a schema cannot say: ``max_set_size`` not below ``min_set_size``, a GMT file that exists (when
    the backend may use it) and has a requested source, and g:SCS refused offline (it needs
    g:Profiler's annotation structure).

    Raises
    ------
    ScrobinError
        One line naming the key, the problem and the fix.
    """
    # A tuple of sources is a list to a Python caller; JSON schema only knows lists.
    cfg = {key: list(value) if isinstance(value, tuple) else value for key, value in dict(cfg or {}).items()}
    settings = validate_section("enrichment", cfg, SCHEMA)
    # The file actually read: relative to the working directory, else the shipped gene sets.
    settings["gmt_path"] = resolve_path(settings["gmt_path"])
    if settings["max_set_size"] < settings["min_set_size"]:
        raise ScrobinError("enrichment.max_set_size is below min_set_size: raise max_set_size or lower min_set_size")
    if settings["backend"] != "gprofiler":
        _check_offline(settings)
    return settings


def check(config: dict) -> None:
    """The workflow's ``enrichment`` section, checked by :func:`validate_enrichment_config` (its GMT
    path resolved: working directory, then the shipped copy).

    Raises
    ------
    ScrobinError
        ``config: enrichment: ...``, one line with the fix.
    """
    config["enrichment"] = checked_setting("enrichment", validate_enrichment_config, config["enrichment"])


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
