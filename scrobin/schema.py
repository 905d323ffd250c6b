"""The config schema (``workflow/schemas/config.schema.yaml``): the one place every key, its
description, its allowed values and its default are written, and checking values against it
with one-line messages. Only yaml and jsonschema: every rule's env can read defaults and
validate a section here (``scrobin.config`` adds the checks that live with the stages' code)."""

from __future__ import annotations

import copy
import difflib
import functools
from collections.abc import Mapping
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators

from scrobin.errors import ScrobinError

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    """The parsed schema (a fresh copy: callers may change it)."""
    return copy.deepcopy(_parsed_schema(str(path)))


@functools.lru_cache(maxsize=4)
def _parsed_schema(path: str) -> dict:
    # Parsed once per process: the stages read their defaults and choices from it at import.
    with open(path) as handle:
        return yaml.safe_load(handle)


def schema_defaults(section: str) -> dict:
    """The schema's default of every key of a top-level config ``section`` that has one.

    The one place defaults are written is the schema; code that needs a section's defaults
    outside a validated config (a library call, a test) reads them here.
    """
    properties = load_schema()["properties"][section]["properties"]
    return {key: copy.deepcopy(spec["default"]) for key, spec in properties.items() if "default" in spec}


def schema_choices(section: str, key: str) -> tuple:
    """The values the schema allows for ``section.key`` (its ``enum``, or its items' for a list)."""
    spec = load_schema()["properties"][section]["properties"][key]
    return tuple(spec.get("enum") or spec["items"]["enum"])


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


# Validates and fills each missing key that has a default, in one pass.
DefaultFillingValidator = _with_defaults(Draft202012Validator)


def _key_path(path) -> str:
    return ".".join(str(part) for part in path) or "config"


def _subschema_at(schema: dict, path) -> dict:
    """Follow properties / additionalProperties / $ref down to the schema of ``path``."""
    node = schema
    for part in path:
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].split("/")[-1]]
        if isinstance(part, str) and part in node.get("properties", {}):
            node = node["properties"][part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        elif "items" in node:
            node = node["items"]
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].split("/")[-1]]
    return node


def describe_error(error, schema: dict, root: tuple[str, ...] = ()) -> str:
    """Turn a jsonschema error into one line naming the key, the problem and the fix.

    ``root`` is the key path of ``schema`` inside the whole config (a section's name when one
    section is validated alone, :func:`validate_section`).
    """
    where = _key_path([*root, *error.absolute_path])
    if error.validator == "additionalProperties":
        allowed = sorted(_subschema_at(schema, error.absolute_path).get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        name = unknown[0] if unknown else "?"
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"config: unknown key '{name}' in {where}: {hint}valid keys are {', '.join(allowed)}"
    if error.validator == "required":
        return f"config: {where} is missing the required key {error.message.split(' ')[0]}: add it"
    if error.validator == "enum":
        return (
            f"config: {where} = {error.instance!r} is not allowed: use one of "
            f"{', '.join(map(str, error.validator_value))}"
        )
    if error.validator == "type":
        return f"config: {where} = {error.instance!r} has the wrong type: expected {error.validator_value}"
    if error.validator == "oneOf":
        options = [
            repr(option["const"]) if "const" in option
            else option["type"] + (f" > {option['exclusiveMinimum']:g}" if "exclusiveMinimum" in option else "")
            for option in error.validator_value
        ]
        return f"config: {where} = {error.instance!r} is not allowed: use a {' or '.join(options)}"
    bounds = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
    if error.validator in bounds:
        return (f"config: {where} = {error.instance!r} is out of range: use a number "
                f"{bounds[error.validator]} {error.validator_value}")
    if error.validator == "minItems":
        return f"config: {where} must list at least {error.validator_value}: add an item"
    if error.validator == "uniqueItems":
        return f"config: {where} lists an item twice: list each once"
    if "propertyNames" in error.schema_path:
        return f"config: name {error.instance!r} in {where} must use only letters, digits, '_' or '-'"
    if error.validator == "pattern":
        return f"config: {where} = {error.instance!r} does not match {error.validator_value!r}: fix its form"
    return f"config: {where}: {error.message}"


def validate_section(section: str, values: Mapping | None, schema: dict | None = None) -> dict:
    """Return one top-level config ``section`` checked against its schema, defaults filled.

    The library's own entry points (e.g. :func:`scrobin.enrichment.enrich_with_config`) call this,
    so a section handed over from Python is checked by the same schema, with the same one-line
    messages and defaults, as the workflow's config.

    Raises
    ------
    ScrobinError
        The first violation, as ``config: <section>.<key> ...: <fix>``.
    """
    schema = load_schema() if schema is None else schema
    section_schema = {**schema["properties"][section], "$defs": schema.get("$defs", {})}
    return filled_against(values or {}, section_schema, root=(section,))


def filled_against(values: Mapping, schema: dict, root: tuple[str, ...] = ()) -> dict:
    """A deep copy of ``values`` with ``schema``'s defaults filled, or ``ScrobinError`` naming the
    first violation (the shallowest; ``root`` is the schema's key path in the whole config)."""
    filled = copy.deepcopy(dict(values))
    errors = sorted(DefaultFillingValidator(schema).iter_errors(filled), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        raise ScrobinError(describe_error(errors[0], schema, root=root))
    return filled
