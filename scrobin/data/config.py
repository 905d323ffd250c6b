"""Stage ``data``'s config: the dataset specs (``datasets.<name>``) and ``prepare``.

The schema fragment (``config.schema.yaml`` beside this file) holds every key, default and
description; :func:`check` adds what a schema cannot express, per dataset (its source kind, the
label key where no default exists, its files, the simulation's parameters).
"""

from __future__ import annotations

from pathlib import Path

from scrobin.data.datasets import validate_dataset_spec
from scrobin.schema import load_fragment

SCHEMA = load_fragment(Path(__file__).parent)


def check(config: dict) -> None:
    """Check every dataset spec of a schema-filled config and fill the defaults that depend on its source.

    Raises
    ------
    ScrobinError
        One line naming ``datasets.<name>``, the problem and the fix.
    """
    for name, spec in config["datasets"].items():
        config["datasets"][name] = validate_dataset_spec(name, spec, seed=config["seed"])
