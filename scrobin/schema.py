"""Config schema machinery: reading a stage's schema fragment, its defaults and choices, and
checking values against a schema with one-line messages.

Every key, its description, its allowed values and its default are written once, in the schema
fragment of the stage that reads them (``scrobin/<stage>/config.schema.yaml``);
:mod:`scrobin.config` composes the fragments into the whole schema. Only yaml and jsonschema, so
every rule's env can validate a section and read its defaults here.
"""

from __future__ import annotations

import copy
import difflib
import functools
from collections.abc import Mapping
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators

from scrobin.errors import ScrobinError

FRAGMENT_NAME = "config.schema.yaml"


def load_fragment(folder: str | Path) -> dict:
    """The schema fragment ``config.schema.yaml`` of a stage's package folder (a fresh copy).

    A fragment holds ``properties`` (the top-level config sections the stage owns) and optionally
    ``$defs``.
    """
    return copy.deepcopy(_parsed(str(Path(folder) / FRAGMENT_NAME)))


@functools.lru_cache(maxsize=16)
def _parsed(path: str) -> dict:
    # Parsed once per process: stages read their defaults and choices from it at import.
    with open(path) as handle:
        return yaml.safe_load(handle)


def section_defaults(fragment: Mapping, section: str) -> dict:
    """The default of every key of the top-level config ``section`` of ``fragment`` that has one.

    Code that needs a section's defaults outside a validated config (a library call, a test)
    reads them here, from the one place they are written.
    """
    properties = fragment["properties"][section]["properties"]
    return {key: copy.deepcopy(spec["default"]) for key, spec in properties.items() if "default" in spec}


def section_choices(fragment: Mapping, section: str, key: str) -> tuple:
    """The values ``fragment`` allows for ``section.key`` (its ``enum``, or its items' for a list)."""
    spec = fragment["properties"][section]["properties"][key]
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


def validate_section(section: str, values: Mapping | None, fragment: Mapping) -> dict:
    """Return one top-level config ``section`` checked against its schema, defaults filled.

    The library's own entry points (e.g. :func:`scrobin.enrichment.enrich_with_config`) call this
    with their stage's fragment, so a section handed over from Python is checked by the same
    schema, with the same one-line messages and defaults, as the workflow's config.

    Raises
    ------
    ScrobinError
        The first violation, as ``config: <section>.<key> ...: <fix>``.
    """
    section_schema = {**fragment["properties"][section], "$defs": fragment.get("$defs", {})}
    return filled_against(values or {}, section_schema, root=(section,))


def filled_against(values: Mapping, schema: dict, root: tuple[str, ...] = ()) -> dict:
    """A deep copy of ``values`` with ``schema``'s defaults filled, or ``ScrobinError`` naming the
    first violation (the shallowest; ``root`` is the schema's key path in the whole config)."""
    filled = copy.deepcopy(dict(values))
    errors = sorted(DefaultFillingValidator(schema).iter_errors(filled), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        raise ScrobinError(describe_error(errors[0], schema, root=root))
    return filled


def checked_setting(section: str, check, *args):
    """``check(*args)``, with a ``ScrobinError`` it raises reworded as ``config: <section>: ...``.

    A stage's config check runs the stage's own validators (an attack spec, a method's
    parameters), whose messages do not know which config key they came from.
    """
    try:
        return check(*args)
    except ScrobinError as error:
        raise ScrobinError(f"config: {section}: {error}") from None
