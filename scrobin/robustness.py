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
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from torch import nn

from scrobin.attacks import (
    art_attack_class,
    canonical_norm,
    dense_cells,
    eval_mode,
    model_device,
    run_attack,
    validate_attack_spec,
)
from scrobin.baseline import attack_logistic_baseline
from scrobin.errors import ScrobinError
from scrobin.runtime import resolve_device

TABLE_COLUMNS = ("attack", "name", "backend", "norm", "eps", "accuracy", "macro_f1", "n_cells")


def predict_classes(model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 4096) -> np.ndarray:
    """Predicted class index per cell, in eval mode, batched, on the model's device."""
    device = model_device(model)
    inputs = torch.as_tensor(dense_cells(x), dtype=torch.float32)
    with eval_mode(model), torch.no_grad():
        batches = [
            model(inputs[start:start + batch_size].to(device)).argmax(dim=1).cpu()
            for start in range(0, len(inputs), batch_size)
        ]
    return torch.cat(batches).numpy() if batches else np.zeros(0, dtype=np.int64)


def validate_sweep(
    attacks: Sequence[Mapping[str, Any]], eps_grid: Sequence[float], estimator: str = "torch"
) -> tuple[list[dict[str, Any]], list[float]]:
    """Check the attack specs and the eps grid of a sweep before any attack runs.

    Specs must leave ``eps`` out (the grid sets it) and ART attacks must take an ``eps``.
    Returns the normalised specs and the sorted, de-duplicated positive eps values (0 is
    always reported as the clean row, so it may appear in the grid or not).
    """
    if not attacks:
        raise ScrobinError("the robustness sweep has no attacks: list at least one attack spec")
    eps_values = validate_eps_grid(eps_grid)
    specs = []
    for spec in attacks:
        if isinstance(spec, Mapping) and "eps" in (spec.get("params") or {}):
            raise ScrobinError(
                f"attack {spec.get('name')!r} sets params.eps: remove it, the sweep takes eps from eps_grid"
            )
        checked = validate_attack_spec(spec, estimator=estimator)
        name = checked["name"]
        if checked["backend"] == "art" and "eps" not in inspect.signature(art_attack_class(name)).parameters:
            raise ScrobinError(f"ART attack {name} has no eps, so it cannot be swept: run it with run_attack")
        specs.append(checked)
    labels = [spec["label"] for spec in specs]
    if len(set(labels)) != len(labels):
        raise ScrobinError(f"attack labels {labels} repeat: give each attack spec a distinct label")
    return specs, eps_values


def validate_eps_grid(eps_grid: Sequence[float], name: str = "eps_grid") -> list[float]:
    """The sorted, de-duplicated positive values of a non-empty list of finite numbers >= 0.

    ``name`` is the config key the list came from, for the error message.
    """
    if isinstance(eps_grid, (str, bytes)) or not isinstance(eps_grid, Sequence) or not eps_grid:
        raise ScrobinError(f"{name} {eps_grid!r} is invalid: give a non-empty list of numbers >= 0")
    for eps in eps_grid:
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps < math.inf:
            raise ScrobinError(f"{name} value {eps!r} is invalid: use finite numbers >= 0")
    return sorted({float(eps) for eps in eps_grid if eps > 0})


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
        Attack specs without eps (see :func:`scrobin.attacks.validate_attack_spec`).
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
    x = dense_cells(x)

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
    x = dense_cells(x)

    def attack(spec: dict[str, Any], params: dict[str, Any]) -> np.ndarray:
        return attack_logistic_baseline(classifier, x, y, {**spec, "params": params})

    return _sweep(classifier.predict, attack, x, y, specs, eps_values, batch_size, seed)


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
    clean = _metrics(labels, predict(x))
    rows = []
    for spec in specs:
        described = {
            "attack": spec["label"], "name": spec["name"], "backend": spec["backend"], "norm": _norm_of(spec),
        }
        rows.append({**described, "eps": 0.0, **clean})
        for eps in eps_values:
            params = {**_run_defaults(spec, batch_size, seed), **spec["params"], "eps": eps}
            rows.append({**described, "eps": eps, **_metrics(labels, predict(attack(spec, params)))})
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def _run_defaults(spec: dict[str, Any], batch_size: int, seed: int) -> dict[str, Any]:
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


def _metrics(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float | int]:
    """Accuracy and macro-F1 over the cell types present in ``labels``."""
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "macro_f1": float(f1_score(labels, predicted, labels=np.unique(labels), average="macro", zero_division=0)),
        "n_cells": int(len(labels)),
    }


def plot_robustness_curves(
    tables: Mapping[str, pd.DataFrame], path: str | Path, metric: str = "accuracy"
) -> Figure:
    """Draw ``metric`` against eps, one panel per attack, one line per model (paper Fig. 1d,e).

    Parameters
    ----------
    tables
        Model label (e.g. standard, fgsm, pgd, logreg) -> its sweep table.
    path
        Output file; the format follows the suffix (``.png``, ``.svg``, ``.pdf``).
    metric
        ``accuracy`` or ``macro_f1``.
    """
    if metric not in ("accuracy", "macro_f1"):
        raise ScrobinError(f"metric {metric!r} is unknown: use accuracy or macro_f1")
    if not tables:
        raise ScrobinError("no sweep tables to plot: pass at least one model label -> table")
    attack_labels = list(dict.fromkeys(label for table in tables.values() for label in table["attack"]))
    figure = Figure(figsize=(4.2 * len(attack_labels), 3.6), layout="constrained")
    axes = figure.subplots(1, len(attack_labels), squeeze=False)[0]
    for axis, attack_label in zip(axes, attack_labels):
        for model_label, table in tables.items():
            curve = table[table["attack"] == attack_label].sort_values("eps")
            if len(curve):
                axis.plot(curve["eps"], curve[metric], marker="o", label=model_label)
        axis.set_title(attack_label)
        axis.set_xlabel("eps")
        axis.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel(metric.replace("_", "-"))
    # One legend for the figure: a model missing from the last panel must still be named.
    handles = {line.get_label(): line for axis in axes for line in axis.get_lines()}
    figure.legend(handles.values(), handles.keys(), title="model", loc="outside right center", frameon=False)
    figure.savefig(path, dpi=150)
    return figure
