"""Stage ``attribution``'s config: ``attribution`` (methods and cells), ``importance`` and ``consensus``.

The schema fragment (``config.schema.yaml`` beside this file) holds every key, default and
description; :func:`check` validates each method's parameters and baseline against the method
registry, so a typo in a parameter stops the workflow before the first job.
"""

from __future__ import annotations

from pathlib import Path

from scrobin.attribution.registry import split_method_entry, validate_baseline_spec, validate_method_config
from scrobin.schema import checked_setting, load_fragment

SCHEMA = load_fragment(Path(__file__).parent)


def check(config: dict) -> None:
    """Check every configured method's parameters and baseline settings.

    Raises
    ------
    ScrobinError
        ``config: attribution.methods.<method>: ...``, one line with the valid choices.
    """
    for method, entry in config["attribution"]["methods"].items():
        params, baseline = split_method_entry(method, entry)
        checked_setting(f"attribution.methods.{method}", validate_method_config, method, params)
        checked_setting(f"attribution.methods.{method}", validate_baseline_spec, method, baseline)
