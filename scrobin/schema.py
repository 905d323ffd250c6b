"""The config schema (``workflow/schemas/config.schema.yaml``): the one place every key, its
description and its default are written. Only yaml: any env can read defaults from here."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle)


def schema_defaults(section: str) -> dict:
    """The schema's default of every key of a top-level config ``section`` that has one.

    The one place defaults are written is the schema; code that needs a section's defaults
    outside a validated config (a library call, a test) reads them here.
    """
    properties = load_schema()["properties"][section]["properties"]
    return {key: copy.deepcopy(spec["default"]) for key, spec in properties.items() if "default" in spec}
