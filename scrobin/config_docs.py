"""Render config/README.md and workflow/schemas/config.schema.yaml from the stages' schema fragments.

The schema (each stage's ``config.schema.yaml``, composed by :func:`scrobin.config.build_schema`)
is the single source of every option's meaning and default, so the documentation and the whole
schema file Snakemake validates against are generated from it (tests keep the committed files in
step). After changing a fragment run::

    python -m scrobin.config_docs > config/README.md
    python -m scrobin.config_docs --schema > workflow/schemas/config.schema.yaml
"""

from __future__ import annotations

import json
import sys

import yaml

from scrobin.config import build_schema

INTRO = """# Configuration reference

Generated from the stages' schema fragments (`scrobin/<stage>/config.schema.yaml`) by
`python -m scrobin.config_docs`; do not edit by hand. `config/config.yaml` is the embedded default
run (it names its datasets and sets nothing else) and `config/test.yaml` the tiny configuration of
the tests. Any key left out takes the default shown. A run with
`--configfile my.yaml` uses that file alone. Unknown keys are refused with the closest valid key.
"""

DATASET_EXAMPLE = """```yaml
datasets:
  my_data:                       # results go to results/my_data/
    source: data/my_cells.h5ad   # .h5ad path, scanpy:pbmc68k_reduced, or simulate
    label_key: cell_type         # obs column with the cell types
    layer: counts                # optional: start from raw counts in this layer
    organism: mmusculus          # for enrichment
```"""


def _format_default(value) -> str:
    return f"`{json.dumps(value)}`"


def _type_of(spec: dict) -> str:
    if "oneOf" in spec:
        return " or ".join(_type_of(option) if "type" in option else f"`{option['const']}`" for option in spec["oneOf"])
    kind = spec.get("type", "object" if "properties" in spec else "")
    kind = "/".join(kind) if isinstance(kind, list) else kind
    if "enum" in spec:
        kind += " (" + " \\| ".join(map(str, spec["enum"])) + ")"
    return kind


def _rows(properties: dict, prefix: str) -> list[str]:
    rows = []
    for name, spec in properties.items():
        key = f"{prefix}{name}"
        default = _format_default(spec["default"]) if "default" in spec else ""
        description = " ".join(spec.get("description", "").split()).replace("|", "\\|")
        rows.append(f"| `{key}` | {_type_of(spec)} | {default} | {description} |")
        if "properties" in spec and spec.get("type") == "object":
            rows += _rows(spec["properties"], f"{key}.")
    return rows


def _table(properties: dict, prefix: str = "") -> str:
    header = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    return "\n".join(header + _rows(properties, prefix))


def _method_table() -> str:
    from scrobin.attribution import BASELINE_PARAMS, METHODS

    lines = ["| method | parameter | default | meaning |", "| --- | --- | --- | --- |"]
    for name, spec in METHODS.items():
        lines.append(f"| `{name}` | | | {spec.description} Baselines: {', '.join(spec.baselines)} (default {spec.default_baseline}). |")
        for param, param_spec in spec.all_params.items():
            lines.append(f"| | `{param}` | `{json.dumps(param_spec.default)}` | {param_spec.description} |")
    lines.append("| every method | `baseline`, `n_baseline_samples` | | " + " ".join(BASELINE_PARAMS.values()) + " |")
    return "\n".join(lines)


def _simulation_table() -> str:
    from scrobin.data.simulate import SIMULATION_DEFAULTS, SIMULATION_MEANINGS

    lines = ["| parameter | default | meaning |", "| --- | --- | --- |"]
    lines += [
        f"| `{name}` | `{json.dumps(value)}` | {SIMULATION_MEANINGS[name]} |" for name, value in SIMULATION_DEFAULTS.items()
    ]
    return "\n".join(lines)


def render() -> str:
    schema = build_schema()
    properties = dict(schema["properties"])
    dataset = schema["$defs"]["dataset"]
    sections = [
        INTRO,
        "## Datasets\n\n" + " ".join(properties.pop("datasets")["description"].split()) + "\n\n" + DATASET_EXAMPLE,
        "Keys of one dataset:\n\n" + _table(dataset["properties"]),
        "### Queries (`datasets.<name>.queries.<query>`)\n\nCells a dataset's trained models label (every regime "
        "and replicate); the same labelling runs from the command line as `scrobin annotate` (see "
        "`scrobin annotate --help`). Settings under `annotation`.\n\n" + _table(schema["$defs"]["query"]["properties"]),
        "### Simulation parameters (`source: simulate`)\n\nSee the docstring of `scrobin.data.simulate.simulate` "
        "for the model. The simulation seed defaults to the workflow `seed`.\n\n" + _simulation_table(),
        "## Workflow settings\n\n" + _table(properties),
        "## Attribution methods and their parameters\n\nSet under `attribution.methods.<method>`; "
        "an empty mapping uses every default.\n\n" + _method_table(),
    ]
    return "\n\n".join(sections) + "\n"


SCHEMA_HEADER = """# Generated by `python -m scrobin.config_docs --schema` from the stages' schema fragments
# (scrobin/config.schema.yaml and scrobin/<stage>/config.schema.yaml); do not edit by hand.
"""


def render_schema() -> str:
    """The whole config schema as YAML, for Snakemake's ``validate`` and readers of the workflow."""
    return SCHEMA_HEADER + yaml.safe_dump(build_schema(), sort_keys=False, width=110, allow_unicode=True)


if __name__ == "__main__":
    print(render_schema() if "--schema" in sys.argv[1:] else render(), end="")
