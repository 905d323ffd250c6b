"""Robust accuracy over a grid of attack strengths (paper Fig. 1d,e), for networks and the baseline.

Every adversarial example is crafted fresh against the model being evaluated (white-box). The
published code measured the adversarially trained model on examples crafted against the
*standard* model (a transfer attack), which overstates robustness; here the sweep takes one model
and attacks only that model.

A sweep table has one row per attack and eps, including an ``eps = 0`` row per attack holding the
clean metrics so each curve starts at the clean accuracy. Columns are :data:`TABLE_COLUMNS`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from torch import nn

from scrobin.attacks.art import art_attack_class, run_art_attack
from scrobin.attacks.specs import canonical_norm, to_art_spec, validate_attack_spec, validate_sweep
from scrobin.attacks.run import run_attack
from scrobin.cells import dense
from scrobin.inference import predict_classes
from scrobin.robustness.table import TABLE_COLUMNS, accuracy_with_interval
from scrobin.runtime import resolve_device


log = logging.getLogger(__name__)


def robustness_sweep(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    attacks: Sequence[Mapping[str, Any]],
    eps_grid: Sequence[float],
    device: str = "auto",
    batch_size: int = 1024,
    seed: int = 0,
) -> pd.DataFrame:
    """Accuracy and macro-F1 of ``model`` under each attack at each eps, attacking ``model`` itself.

    Parameters
    ----------
    model
        Logits module; moved to ``device`` in place.
    x, y
        Evaluation cells (the test split) and their class indices.
    attacks
        Attack specs without eps (see :func:`scrobin.attacks.specs.validate_attack_spec`).
    eps_grid
        Perturbation budgets to evaluate. A spec's ``step_size`` / ``eps_step`` stays fixed across
        the grid; leave the native ``step_size`` null to keep it at eps / 4 for every eps.
    device
        ``auto``, ``cpu`` or ``cuda``.
    batch_size, seed
        Used by every attack whose params do not set their own ``batch_size`` / ``seed``.

    Returns
    -------
    The sweep table (:data:`TABLE_COLUMNS`).
    """
    specs, eps_values = validate_sweep(attacks, eps_grid)
    model.to(resolve_device(device))
    x = dense(x)

    def attack(spec: dict[str, Any], params: dict[str, Any]) -> np.ndarray:
        return run_attack(model, x, y, spec["name"], params, backend=spec["backend"])

    return _sweep(lambda cells: predict_classes(model, cells), attack, x, y, specs, eps_values, batch_size, seed)


def baseline_robustness_sweep(
    classifier: LogisticRegression,
    x: np.ndarray,
    y: np.ndarray,
    attacks: Sequence[Mapping[str, Any]],
    eps_grid: Sequence[float],
    batch_size: int = 1024,
    seed: int = 0,
) -> pd.DataFrame:
    """The same sweep for the logistic-regression baseline, attacked through ART.

    Native ``fgsm``/``pgd`` specs become ART's FastGradientMethod / ProjectedGradientDescent with
    identical settings, so the network and the baseline curves are directly comparable.
    """
    specs, eps_values = validate_sweep(attacks, eps_grid, estimator="sklearn")
    x = dense(x)

    def attack(spec: dict[str, Any], params: dict[str, Any]) -> np.ndarray:
        return attack_logistic_baseline(classifier, x, y, {**spec, "params": params})

    table = _sweep(classifier.predict, attack, x, y, specs, eps_values, batch_size, seed)
    # Every baseline attack runs through ART, native specs translated (attack_logistic_baseline).
    table["backend"] = "art"
    return table


def attack_logistic_baseline(
    classifier: LogisticRegression, x: np.ndarray, y: np.ndarray, spec: Mapping[str, Any]
) -> np.ndarray:
    """Craft adversarial cells against the baseline with an attack spec, through ART.

    Native ``fgsm``/``pgd`` specs are translated to ART's FastGradientMethod /
    ProjectedGradientDescent with identical settings, so the baseline meets the same attack as
    the network; ``art`` specs run as given.
    """
    from art.estimators.classification.scikitlearn import ScikitlearnLogisticRegression

    art_spec = to_art_spec(validate_attack_spec(spec, estimator="sklearn"))

    clip = art_spec["params"].get("clip")
    estimator = ScikitlearnLogisticRegression(classifier, clip_values=None if clip is None else tuple(clip))
    return run_art_attack(estimator, dense(x), y, art_spec["name"], art_spec["params"])


def _sweep(
    predict: Callable[[np.ndarray], np.ndarray],
    attack: Callable[[dict[str, Any], dict[str, Any]], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    specs: list[dict[str, Any]],
    eps_values: list[float],
    batch_size: int,
    seed: int,
) -> pd.DataFrame:
    """Fill the table: clean metrics once, then each attack at each eps."""
    labels = np.asarray(y)
    clean = accuracy_with_interval(labels, predict(x))
    rows = []
    for spec in specs:
        described = {
            "attack": spec["label"], "name": spec["name"], "backend": spec["backend"], "norm": _norm_of(spec),
        }
        rows.append({**described, "eps": 0.0, **clean})
        for eps in eps_values:
            params = {**run_defaults(spec, batch_size, seed), **spec["params"], "eps": eps}
            rows.append({**described, "eps": eps, **accuracy_with_interval(labels, predict(attack(spec, params)))})
            log.info("%s eps %g on %d cells: accuracy %.3f [%.3f, %.3f] (%d/%d)", spec["label"], eps, len(labels),
                     rows[-1]["accuracy"], rows[-1]["accuracy_ci_low"], rows[-1]["accuracy_ci_high"],
                     len(rows) - specs.index(spec) - 1, len(specs) * len(eps_values))
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def run_defaults(spec: dict[str, Any], batch_size: int, seed: int) -> dict[str, Any]:
    """The sweep's batch size and seed, for attacks that take them and do not set their own."""
    if spec["backend"] == "native":
        return {"batch_size": batch_size, "seed": seed}
    accepted = inspect.signature(art_attack_class(spec["name"]).__init__).parameters
    return {"seed": seed, **({"batch_size": batch_size} if "batch_size" in accepted else {})}


def _norm_of(spec: dict[str, Any]) -> str:
    """The norm an attack runs with: its param, else the attack's own default ('' if it has none)."""
    if "norm" in spec["params"]:
        return spec["params"]["norm"]
    if spec["backend"] == "native":
        return "inf"
    default = inspect.signature(art_attack_class(spec["name"]).__init__).parameters.get("norm")
    if default is None or default.default is inspect.Parameter.empty:
        return ""
    return canonical_norm(default.default)
