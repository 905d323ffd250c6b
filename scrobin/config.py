"""Config validation with one-line, fixable error messages.

Snakemake's own ``validate`` reports a schema violation as a long dump of the schema. Users need
the key, what is wrong and the fix, so this module validates first and words the first error;
defaults are filled in the same pass (also inside the per-dataset specs).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping

from jsonschema import Draft202012Validator, validators

from scrobin.errors import ScrobinError
from scrobin.paths import resolve_path
from scrobin.schema import load_schema

def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


_DefaultFillingValidator = _with_defaults(Draft202012Validator)


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


def describe_error(error, schema: dict) -> str:
    """Turn a jsonschema error into one line naming the key, the problem and the fix."""
    where = _key_path(error.absolute_path)
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
    if "propertyNames" in error.schema_path:
        return f"config: name {error.instance!r} in {where} must use only letters, digits, '_' or '-'"
    return f"config: {where}: {error.message}"


def validate_config(config: Mapping, schema: dict | None = None) -> dict:
    """Return a deep copy of ``config`` with defaults filled, or raise ``ScrobinError``.

    Beyond the schema it checks what a schema cannot express: each dataset's source kind, the
    label key where no default exists, the dropout list matching the hidden layers, and the
    per-method parameters of later stages (those checks live with the code they protect).
    """
    schema = load_schema() if schema is None else schema
    filled = copy.deepcopy(dict(config))
    errors = sorted(
        _DefaultFillingValidator(schema).iter_errors(filled), key=lambda e: (len(e.absolute_path), e.path)
    )
    if errors:
        raise ScrobinError(describe_error(errors[0], schema))
    _check_model(filled)
    _check_stages(filled)
    from scrobin.data.datasets import validate_dataset_spec

    for name, spec in filled["datasets"].items():
        filled["datasets"][name] = validate_dataset_spec(name, spec, seed=filled["seed"])
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


def _check_model(config: dict) -> None:
    from scrobin.model.presets import preset_settings

    model = config["model"]
    if model["dropout"] is None:
        return
    hidden_sizes = model["hidden_sizes"]
    source = "model.hidden_sizes"
    if hidden_sizes is None:
        # A preset's depth does not depend on the data; its widths do, so any cell count will do.
        hidden_sizes = preset_settings(model["preset"], n_train_cells=1)["hidden_sizes"]
        source = f"the {model['preset']} preset"
    if len(model["dropout"]) != len(hidden_sizes):
        raise ScrobinError(
            f"config: model.dropout has {len(model['dropout'])} rates but {source} has "
            f"{len(hidden_sizes)} layers: give one dropout rate per hidden layer"
        )


def split_method_entry(name: str, entry: Mapping) -> tuple[dict, dict]:
    """Split one ``attribution.methods`` entry into (method parameters, baseline settings)."""
    from scrobin.attribution import BASELINE_PARAMS

    entry = dict(entry or {})
    baseline = {key: entry.pop(key) for key in list(entry) if key in BASELINE_PARAMS}
    return entry, baseline


def _check_stages(config: dict) -> None:
    """Check the sections whose valid values live in code (attacks, methods, enrichment).

    Each stage's own validator runs here, at config time, so a typo in a method parameter or an
    unknown ART attack stops the workflow before the first job rather than hours into a run.
    """
    from scrobin.robustness.attack_specs import validate_attack_spec, validate_eps_grid, validate_sweep
    from scrobin.attribution.registry import validate_baseline_spec, validate_method_config
    from scrobin.enrichment.config import validate_enrichment_config

    def checked(section: str, check, *args):
        try:
            return check(*args)
        except ScrobinError as error:
            raise ScrobinError(f"config: {section}: {error}") from None

    sweep = config["robustness"]
    config["robustness"]["attacks"] = checked("robustness.attacks", validate_sweep, sweep["attacks"], sweep["eps_grid"])[0]
    structure = config["eps_structure"]
    checked("eps_structure.eps", validate_eps_grid, structure["eps"], "eps_structure.eps")
    structure["attack"] = checked("eps_structure.attack", validate_attack_spec, structure["attack"])
    for method, entry in config["attribution"]["methods"].items():
        params, baseline = split_method_entry(method, entry)
        checked(f"attribution.methods.{method}", validate_method_config, method, params)
        checked(f"attribution.methods.{method}", validate_baseline_spec, method, baseline)
    enrichment = config["enrichment"]
    enrichment["gmt_path"] = resolve_path(enrichment["gmt_path"])
    checked("enrichment", validate_enrichment_config, enrichment)
