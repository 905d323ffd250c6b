"""The workflow's config: every stage's schema fragment composed into one schema, and validation
with one-line, fixable error messages.

Each stage declares its own config sections (``scrobin/<stage>/config.schema.yaml``: every key,
type, range, default and description) and the checks a schema cannot express
(``scrobin/<stage>/config.py``, :func:`check`); this module, at the top of the package beside the
jobs, composes them. Snakemake's own ``validate`` reports a schema violation as a long dump of the
schema; users need the key, what is wrong and the fix, so :func:`validate_config` validates first
and words the first error, filling defaults in the same pass (also inside the per-dataset specs).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path

from scrobin.attacks import config as attacks_config
from scrobin.attribution import config as attribution_config
from scrobin.data import config as data_config
from scrobin.enrichment import config as enrichment_config
from scrobin.evaluation import config as evaluation_config
from scrobin.model import config as model_config
from scrobin.robustness import config as robustness_config
from scrobin.schema import filled_against, load_fragment

# The stages whose sections the config holds, in the order of the package's layers: the composed
# schema lists their sections, and validation runs their checks, in this order.
STAGES = (data_config, attacks_config, model_config, robustness_config, attribution_config, evaluation_config,
          enrichment_config)


def build_schema() -> dict:
    """The whole config schema: the root keys (``scrobin/config.schema.yaml``) and every stage's sections.

    Raises
    ------
    ValueError
        When two fragments declare the same section (a bug, not a user error).
    """
    schema = load_fragment(Path(__file__).parent)
    for stage in STAGES:
        for kind in ("properties", "$defs"):
            ours, theirs = schema.setdefault(kind, {}), stage.SCHEMA.get(kind, {})
            clash = set(ours) & set(theirs)
            if clash:
                raise ValueError(f"config sections {sorted(clash)} are declared twice ({stage.__name__})")
            ours.update(copy.deepcopy(theirs))
    return schema


def validate_config(config: Mapping, schema: dict | None = None) -> dict:
    """Return a deep copy of ``config`` with defaults filled, or raise ``ScrobinError``.

    The schema (:func:`build_schema` unless given) checks keys, types, ranges and choices; then each
    stage's :func:`check` adds what a schema cannot express (dataset sources, attack specs, method
    parameters, the enrichment's gene sets), in the order of :data:`STAGES`.
    """
    filled = filled_against(config, build_schema() if schema is None else schema)
    for stage in STAGES:
        stage.check(filled)
    return _sorted_keys(filled)


def _sorted_keys(value):
    """Mappings with their keys in sorted order, recursively (lists keep their order).

    Rules' params are compared by Snakemake to decide reruns; a canonical key order means that
    reordering or reformatting a config file reruns nothing.
    """
    if isinstance(value, dict):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(item) for item in value]
    return value
