"""The bracket of a model's true robust accuracy: certified below, the strongest attack above.

An attack's accuracy is an upper bound of the true robust accuracy (a weak or masked gradient
overstates it); a certified accuracy (bound propagation: no point of the eps box changes the
call) is a lower bound. Robustness research reports both at one budget; so does scrobin, as rows of
the sweep table beside the sweep's own attacks:

``certified_<method>``
    The share of cells certified by ``ibp``, ``crown-ibp`` or ``crown``
    (:mod:`scrobin.attacks.bounds`), at every eps of the grid; ``bound`` ``lower``.
``apgd_ce``, ``apgd_t``, ``strongest``
    AutoAttack's APGD-CE and APGD-T (:mod:`scrobin.attacks.apgd`), and the worst case over them
    and the sweep's attacks (a cell counts only if every attack fails), at the budget or at every
    eps; ``bound`` ``upper``.

Per cell, the largest certified eps (:func:`certified_radii`) says which cell types are fragile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from scrobin.attacks.apgd import apgd_attacks, broken_cells
from scrobin.attacks.bounds import certified, certified_radius
from scrobin.attacks.run import run_attack
from scrobin.inference import predict_logits
from scrobin.robustness.sweep import run_defaults
from scrobin.robustness.table import CERTIFIED_PREFIX, STRONGEST, TABLE_COLUMNS, accuracy_with_interval


def certified_rows(model: nn.Module, x: np.ndarray, y: np.ndarray, eps_values: Sequence[float],
                   methods: Sequence[str]) -> pd.DataFrame:
    """Certified robust accuracy of ``model`` at each eps with each bound-propagation method.

    Parameters
    ----------
    model
        ReLU network (scrobin's classifier), on any device.
    x, y
        Test cells x genes (scaled expression) and their class indices.
    eps_values
        Positive budgets (scaled-expression units).
    methods
        ``ibp``, ``crown-ibp`` and/or ``crown`` (:func:`scrobin.attacks.bounds.certified`).

    Returns
    -------
    pandas.DataFrame
        Sweep-table rows (``TABLE_COLUMNS`` and ``bound`` = ``lower``): ``accuracy`` is the share
        certified, with its Wilson interval; ``macro_f1`` is empty (an uncertified cell has no
        one label the bound stands for). One eps 0 row per method holds the clean accuracy.
    """
    labels = np.asarray(y)
    clean = accuracy_with_interval(labels, np.asarray(_predictions(model, x)))
    rows = []
    for method in methods:
        described = {"attack": f"{CERTIFIED_PREFIX}{method}", "name": method, "backend": "bounds", "norm": "inf"}
        rows.append({**described, "eps": 0.0, **clean})
        for eps in eps_values:
            proven = certified(model, x, labels, float(eps), method)
            rows.append({**described, "eps": float(eps), **_share(proven)})
    return _table(rows, "lower")


def strongest_rows(model: nn.Module, x: np.ndarray, y: np.ndarray, eps_values: Sequence[float],
                   sweep_specs: Sequence[Mapping[str, Any]], settings: Mapping, seed: int,
                   batch_size: int = 1024) -> pd.DataFrame:
    """Robust accuracy under APGD-CE, APGD-T and the worst case over them and the sweep's attacks.

    Parameters
    ----------
    model
        Logits module.
    x, y
        Test cells x genes (scaled expression) and their class indices.
    eps_values
        The budgets attacked.
    sweep_specs
        The sweep's validated attack specs (``robustness.attacks``): each runs again at each eps so
        the worst case is taken per cell over every attack.
    settings
        ``robustness.strongest_attack``: ``iterations``, ``restarts``, ``target_classes``.
    seed, batch_size
        As the sweep's.

    Returns
    -------
    pandas.DataFrame
        Sweep-table rows with ``bound`` = ``upper``: per eps ``apgd_ce``, ``apgd_t`` and
        ``strongest`` (accuracy: the share no attack broke, with its Wilson interval; ``macro_f1``
        empty, as a broken cell's label depends on the attack that broke it).
    """
    labels = np.asarray(y)
    n_classes = _predictions(model, x[:1], logits=True).shape[1]
    rows = []
    for eps in eps_values:
        attacks = apgd_attacks(float(eps), iterations=settings["iterations"], n_restarts=settings["restarts"],
                               n_target_classes=min(settings["target_classes"], n_classes - 1), seed=seed,
                               batch_size=batch_size)
        for spec in sweep_specs:
            params = {**run_defaults(spec, batch_size, seed), **spec["params"], "eps": float(eps)}
            attacks[spec["label"]] = partial(_spec_attack, spec=spec, params=params)
        broken = broken_cells(model, x, labels, attacks)
        for label, name in (("apgd_ce", "apgd_ce"), ("apgd_t", "apgd_t_dlr"), ("any", STRONGEST)):
            survived = ~(broken[label] | broken["clean"]).to_numpy()
            rows.append({"attack": name if label != "any" else STRONGEST, "name": name, "backend": "native",
                         "norm": "inf", "eps": float(eps), **_share(survived)})
    return _table(rows, "upper")


def _spec_attack(model: nn.Module, x: np.ndarray, y: np.ndarray, spec: Mapping, params: Mapping) -> np.ndarray:
    return run_attack(model, x, y, spec["name"], params, backend=spec["backend"])


def certified_radii(model: nn.Module, x: np.ndarray, y: np.ndarray, cell_types: Sequence[str], method: str,
                    eps_max: float, tolerance: float) -> pd.DataFrame:
    """Each cell's largest certified eps (:func:`scrobin.attacks.bounds.certified_radius`).

    Returns
    -------
    pandas.DataFrame
        One row per cell: ``cell_type``, ``radius`` (scaled-expression units; 0 for a misclassified
        cell or one certified at no radius), ``method``, ``eps_max`` (the largest radius tried: a
        cell at it may be certified further out).
    """
    radius = certified_radius(model, x, np.asarray(y), float(eps_max), method, tolerance)
    return pd.DataFrame({"cell_type": np.asarray(cell_types, dtype=object), "radius": radius, "method": method,
                         "eps_max": float(eps_max)})


def _predictions(model: nn.Module, x: np.ndarray, logits: bool = False) -> np.ndarray:
    values = predict_logits(model, x)
    return values if logits else values.argmax(axis=1)


def _share(correct: np.ndarray) -> dict:
    """Accuracy (with its Wilson interval) of a per-cell boolean (scored as predictions of one
    class, 1 where correct); macro-F1 has no meaning here."""
    correct = np.asarray(correct, dtype=bool)
    metrics = accuracy_with_interval(np.ones(len(correct), np.int64), correct.astype(np.int64))
    return {**metrics, "macro_f1": float("nan")}


def _table(rows: list[dict], bound: str) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS)).assign(bound=bound)
