"""Config validation with one-line, fixable error messages.

Snakemake's own ``validate`` reports a schema violation as a long dump of the schema. Users need
the key, what is wrong and the fix, so this module validates first and words the first error;
defaults are filled in the same pass (also inside the per-dataset specs).
"""

from __future__ import annotations

from collections.abc import Mapping

from scrobin.errors import ScrobinError
from scrobin.paths import resolve_path
from scrobin.schema import filled_against, load_schema

def validate_config(config: Mapping, schema: dict | None = None) -> dict:
    """Return a deep copy of ``config`` with defaults filled, or raise ``ScrobinError``.

    Beyond the schema it checks what a schema cannot express: each dataset's source kind, the
    label key where no default exists, the dropout list matching the hidden layers, and the
    per-method parameters of later stages (those checks live with the code they protect).
    """
    filled = filled_against(config, load_schema() if schema is None else schema)
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


def _check_stages(config: dict) -> None:
    """Check the sections whose valid values live in code (attacks, methods, enrichment).

    Each stage's own validator runs here, at config time, so a typo in a method parameter or an
    unknown ART attack stops the workflow before the first job rather than hours into a run.
    """
    from scrobin.attacks.specs import validate_attack_spec, validate_eps_grid, validate_sweep
    from scrobin.attribution.registry import split_method_entry, validate_baseline_spec, validate_method_config
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
