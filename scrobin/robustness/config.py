"""Stage ``robustness``'s config: the ``robustness`` sweep and the ``eps_structure`` check.

The schema fragment (``config.schema.yaml`` beside this file) holds every key, default and
description; :func:`check` validates the attack specs with the attacks' own validators, so an
unknown ART attack or a bad parameter stops the workflow before the first job.
"""

from __future__ import annotations

from pathlib import Path

from scrobin.attacks.specs import validate_attack_spec, validate_eps_grid, validate_sweep
from scrobin.schema import checked_setting, load_fragment

SCHEMA = load_fragment(Path(__file__).parent)


def check(config: dict) -> None:
    """Check and normalise the sweep's attack specs and grid and the structure check's attack (the
    sweep adds the attack budget to the grid itself, a number or ``auto``'s choice:
    :func:`scrobin.robustness.budget.sweep_grid`).

    Raises
    ------
    ScrobinError
        ``config: robustness.attacks: ...`` and the like, one line with the fix.
    """
    sweep = config["robustness"]
    sweep["attacks"] = checked_setting("robustness.attacks", validate_sweep, sweep["attacks"], sweep["eps_grid"])[0]
    structure = config["eps_structure"]
    checked_setting("eps_structure.eps", validate_eps_grid, structure["eps"], "eps_structure.eps")
    structure["attack"] = checked_setting("eps_structure.attack", validate_attack_spec, structure["attack"])
