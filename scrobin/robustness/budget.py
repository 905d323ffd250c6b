"""The attack budget (eps) of a dataset: a number from the config, or chosen from the data.

``attack.eps: auto`` takes the largest eps whose structure score (``scrobin.robustness.eps_structure``: how well
attacked cells still sit among their own type, from the eps-structure check of the dataset's
standard model) stays at or above ``eps_structure.threshold``. An attack that changes what the
cells are is not one a classifier should resist, so a budget the check rejects is never used in
silence: when no eps of the grid qualifies, the dataset's adversarial stages stop with one line
naming the fixes. Adversarial training, the robustness sweep's headline eps and the comparison
all read the budget through :func:`attack_budget`, so they cannot disagree.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from scrobin.errors import ScrobinError

AUTO = "auto"


def is_auto(attack: Mapping) -> bool:
    """Whether the ``attack`` config section asks for a budget chosen from the data."""
    return attack["eps"] == AUTO


def attack_budget(attack: Mapping, structure: Mapping | None, dataset: str) -> dict:
    """The eps used for adversarial training and the headline robust accuracy of ``dataset``.

    Parameters
    ----------
    attack
        The validated ``attack`` config section (``eps`` a positive number or ``"auto"``).
    structure
        The dataset's ``eps_structure/summary.json`` (``threshold``, ``largest_structured_eps``,
        ``scores`` eps -> structure score); needed only for ``auto``.
    dataset
        Dataset name, for messages.

    Returns
    -------
    dict
        ``eps`` (scaled-expression units), ``source`` (``config`` or ``eps_structure``),
        ``threshold`` and ``structure_score`` (``None`` for a configured number whose score was
        not measured) and ``reason``, one sentence for logs, tables and the report.

    Raises
    ------
    ScrobinError
        ``auto`` without a structure summary, or when no eps of the check keeps the structure.
    """
    scores = {float(eps): score for eps, score in ((structure or {}).get("scores") or {}).items()}
    if not is_auto(attack):
        eps = float(attack["eps"])
        score = scores.get(eps)
        return {"eps": eps, "source": "config", "threshold": (structure or {}).get("threshold"),
                "structure_score": score, "reason": f"attack.eps = {eps:g} set in the config"}
    if structure is None:
        raise ScrobinError(f"dataset '{dataset}': attack.eps is auto but no eps-structure summary was "
                           "given: run the eps_structure rule first")
    threshold = structure["threshold"]
    largest = structure.get("largest_structured_eps")
    if largest is None:
        measured = ", ".join(f"{eps:g}: {score:.2f}" for eps, score in sorted(scores.items()))
        raise ScrobinError(
            f"dataset '{dataset}': attack.eps is auto but no eps of eps_structure.eps keeps the structure "
            f"score >= {threshold:g} (scores {measured}), so any attack changes what the cells are: add "
            "smaller values to eps_structure.eps, lower eps_structure.threshold, or set attack.eps to a number"
        )
    largest = float(largest)
    score = scores.get(largest, math.nan)
    return {"eps": largest, "source": "eps_structure", "threshold": threshold, "structure_score": score,
            "reason": f"attack.eps auto: {largest:g}, the largest eps whose structure score "
                      f"({score:.2f}) stays >= {threshold:g}"}


def attack_config_for(attack: Mapping, budget: Mapping) -> dict:
    """The ``attack`` section with ``eps`` replaced by the resolved number."""
    return {**attack, "eps": budget["eps"]}


def load_attack_budget(attack: Mapping, summary_path: str | Path | None, dataset: str) -> dict:
    """:func:`attack_budget` with the structure summary read from ``summary_path`` (if given)."""
    structure = None
    if summary_path:
        with open(summary_path) as handle:
            structure = json.load(handle)
    return attack_budget(attack, structure, dataset)


def sweep_grid(eps_grid: Sequence[float], attack: Mapping, summary_path: str | Path | None, dataset: str) -> list[float]:
    """The robustness sweep's eps values with the attack budget among them, so the headline
    robust accuracy is measured at exactly the eps the robust models were trained for.

    When ``auto`` finds no budget the configured grid alone is swept: the standard model's
    robustness is still worth knowing, and adversarial training is the stage that stops.
    """
    grid = {float(eps) for eps in eps_grid}
    try:
        grid.add(float(load_attack_budget(attack, summary_path, dataset)["eps"]))
    except ScrobinError:
        pass
    return sorted(grid)
