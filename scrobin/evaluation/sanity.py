"""Sanity checks of explanations: does a method's ranking change when the model does?

Adebayo et al. 2018 ("Sanity checks for saliency maps", NeurIPS) showed that some attribution
methods give nearly the same map for a trained network and for the same network with random
weights: such a method explains the input, not the model. Two checks, as Quantus defines them
(Hedström et al. 2023, JMLR 24:34; ``MPRT`` and ``RandomLogit``), on scrobin's unit of
explanation, the per-type gene importance (``cell_type_importance``'s ``score``):

``model_randomisation``
    Cascading model-parameter randomisation: the Linear layers are re-initialised one more at a
    time, from the output layer down, and each copy is explained on the same cells. Step ``k``
    has the top ``k`` layers random; the last step is a network that learnt nothing.
``random_logit``
    Every cell explained for a random other class (seeded) on the trained model.

Each row is the Spearman correlation, per cell type, between a method's importance on the
trained model (the cells' own classes) and on the randomised copy (or the random classes),
summarised over types by its mean, its minimum and the mean of its absolute value. A method whose
ranking survives full randomisation (:func:`sanity_verdicts`) explains the data. Every run of a method uses the same
seed, so a sampling method draws the same designs for every copy and only the model differs.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from scrobin.cells import stratified_subset
from scrobin.errors import ScrobinError
from scrobin.inference import model_device, predict_logits
from scrobin.runtime import preserved_random_state
from scrobin.validators import require_positive_int
from scrobin.attribution.compute import compute_attributions
from scrobin.attribution.importance import cell_type_importance, importance_matrix
from scrobin.attribution.registry import method_spec

CHECKS = ("model_randomisation", "random_logit")
SANITY_COLUMNS = ("method", "check", "step", "layers_randomised", "spearman_mean", "spearman_min",
                  "spearman_abs_mean", "n_cells", "seconds")
VERDICT_COLUMNS = ("method", "spearman_randomised", "spearman_random_logit", "verdict")


def cascading_randomisation(model: nn.Module, seed: int = 0) -> list[tuple[str, nn.Module]]:
    """Copies of ``model`` with its Linear layers re-initialised from the output layer down.

    Source: the cascading randomisation of Adebayo et al. 2018 (Quantus ``MPRT``).

    Parameters
    ----------
    model
        The trained network; it is not changed.
    seed
        Seeds the new weights. Each layer is redrawn once, with the layer's own
        ``reset_parameters`` (for ``nn.Linear``, PyTorch's default initialisation), on a CPU copy
        under a forked generator, so the caller's random state is untouched and the copies are the
        same on CPU and CUDA.

    Returns
    -------
    list of (str, torch.nn.Module)
        One entry per Linear layer, top first: the layer's name (``model.named_modules``) and a
        copy, on the model's device, in which it and every layer above it are random and the
        layers below are the trained ones.

    Raises
    ------
    ScrobinError
        When the model has no ``nn.Linear`` layer.
    """
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not names:
        raise ScrobinError("the model has no nn.Linear layer to re-initialise: the randomisation check "
                           "needs scrobin's MLP or another network of Linear layers")
    device = model_device(model)
    randomised = copy.deepcopy(model).cpu()
    layers = dict(randomised.named_modules())
    copies = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name in reversed(names):
            layers[name].reset_parameters()
            copies.append((name, copy.deepcopy(randomised).to(device)))
    return copies


def random_other_class(target: np.ndarray, n_classes: int, generator: np.random.Generator) -> np.ndarray:
    """A class other than its own for every cell, uniform over the ``n_classes - 1`` others.

    Raises
    ------
    ScrobinError
        When there are fewer than two classes.
    """
    if n_classes < 2:
        raise ScrobinError(f"the random-logit check needs at least two classes, the model has {n_classes}")
    return (np.asarray(target) + generator.integers(1, n_classes, size=len(target))) % n_classes


def type_rank_correlation(reference: np.ndarray, other: np.ndarray, cell_types: np.ndarray,
                          rank_by: str = "positive") -> np.ndarray:
    """Spearman correlation of the per-type importance of two attributions of the same cells.

    Parameters
    ----------
    reference, other
        Cells x genes attributions of the same cells.
    cell_types
        Type (class index) of each cell; each type's importance averages its own cells.
    rank_by
        ``cell_type_importance``'s ranking rule, whose ``score`` is correlated.

    Returns
    -------
    numpy.ndarray
        One correlation per type (in ``cell_type_importance``'s order); NaN where either ranking
        is flat (every gene tied), which has no rank correlation.
    """
    from scipy import stats

    genes = np.arange(reference.shape[1])
    first = importance_matrix(cell_type_importance(reference, cell_types, genes, rank_by)).sort_index()
    second = importance_matrix(cell_type_importance(other, cell_types, genes, rank_by)).sort_index()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return np.array([stats.spearmanr(first[column], second[column]).statistic for column in first.columns])


def sanity_checks(
    model: nn.Module,
    x: np.ndarray,
    target: np.ndarray,
    methods: Mapping[str, tuple[Mapping | None, Mapping | None] | None],
    *,
    background: np.ndarray | None = None,
    seed: int = 0,
    sampling_cells_per_type: int | None,
    full: bool = False,
    rank_by: str = "positive",
) -> pd.DataFrame:
    """Model-randomisation and random-logit checks of every method, as rank correlations.

    Source: Adebayo et al. 2018, "Sanity checks for saliency maps" (cascading randomisation);
    Sixt et al. 2020 / Quantus ``RandomLogit`` (random other class). Each method runs through
    :func:`scrobin.attribution.compute.compute_attributions` on the model's device.

    Parameters
    ----------
    model
        The trained classifier (cells x genes -> cells x class logits); it is not changed.
    x
        Cells x genes model input (scaled expression) of the cells explained, e.g. test cells.
    target
        Class index of each cell (its annotated type): the class explained on the trained model
        and on each randomised copy, and the type whose importance the cell counts in.
    methods
        Method name -> ``(params, baseline_spec)`` as ``compute_attributions`` takes them
        (``scrobin.attribution.registry.split_method_entry`` splits a config entry so); ``None`` for defaults.
    background
        Training cells x genes, for methods whose baseline needs them.
    seed
        Seeds the layers' new weights, the random classes, the cells of sampling methods and every
        method run (the same for every copy, so only the model changes between rows).
    sampling_cells_per_type
        Cells per type (seeded, stratified) explained by a method whose registry spec says
        ``sampling`` (KernelSHAP, LIME, GradientSHAP, DeepSHAP), each costing hundreds to
        thousands of model rows per cell; other methods explain every cell. ``None``: all cells.
    full
        Explain every cell with every method (the full check; minutes for KernelSHAP on thousands
        of cells).
    rank_by
        The importance's ranking rule (``positive``, ``absolute``, ``signed_abs``).

    Returns
    -------
    pandas.DataFrame
        ``SANITY_COLUMNS``: per method, one ``model_randomisation`` row per Linear layer (``step``
        the layer randomised last, ``layers_randomised`` how many, top first) and one
        ``random_logit`` row (``step`` ``random_logit``, 0 layers); ``spearman_mean``,
        ``spearman_min`` and ``spearman_abs_mean`` summarise the per-type correlations with the
        trained model's importance (types with a flat ranking left out; a negative correlation is a
        ranking turned around, as when the explained class competes with the cell's own),
        ``n_cells`` the cells explained, ``seconds`` the method's wall time on that copy. Python's,
        numpy's and torch's random states and torch's deterministic-algorithms setting are as
        before the call.

    Raises
    ------
    ScrobinError
        When no method is given, a method or its parameters are unknown, ``target`` does not give
        one class per cell, or the model has no Linear layer or fewer than two classes.
    """
    if not methods:
        raise ScrobinError("no methods were given: pass a dict method -> (params, baseline_spec)")
    x, target = np.asarray(x, dtype=np.float32), np.asarray(target)
    if target.shape != (len(x),) or not np.issubdtype(target.dtype, np.integer):
        raise ScrobinError(f"target must hold one integer class index per cell ({len(x)}), got {target.dtype} "
                           f"array of shape {target.shape}")
    if sampling_cells_per_type is not None:
        require_positive_int(sampling_cells_per_type, "sanity sampling_cells_per_type")
    device = model_device(model)
    rows = []
    with preserved_random_state(device):
        n_classes = predict_logits(model, x[:1]).shape[1]
        random_target = random_other_class(target, n_classes, np.random.default_rng(seed))
        copies = cascading_randomisation(model, seed)
        for method, entry in methods.items():
            params, baseline_spec = entry if entry is not None else (None, None)
            fewer = method_spec(method).sampling and not full
            cells = stratified_subset(target, sampling_cells_per_type if fewer else None, seed)

            def explain(network: nn.Module, classes: np.ndarray) -> tuple[np.ndarray, float]:
                attributions, info = compute_attributions(
                    network, x[cells], classes[cells], method, params, baseline_spec, background=background,
                    seed=seed, device=device.type,
                )
                return attributions, info["runtime_seconds"]

            reference, _ = explain(model, target)
            runs = [("model_randomisation", name, depth, network, target)
                    for depth, (name, network) in enumerate(copies, start=1)]
            runs.append(("random_logit", "random_logit", 0, model, random_target))
            for check, step, depth, network, classes in runs:
                attributions, seconds = explain(network, classes)
                correlation = pd.Series(type_rank_correlation(reference, attributions, target[cells], rank_by))
                rows.append({"method": method, "check": check, "step": step, "layers_randomised": depth,
                             "spearman_mean": correlation.mean(), "spearman_min": correlation.min(),
                             "spearman_abs_mean": correlation.abs().mean(), "n_cells": len(cells), "seconds": seconds})
    return pd.DataFrame(rows, columns=list(SANITY_COLUMNS))


def sanity_verdicts(table: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Whether each method explains the model or the data, from :func:`sanity_checks`' table.

    Parameters
    ----------
    table
        ``sanity_checks`` output.
    threshold
        Mean per-type absolute Spearman correlation after every layer is randomised at or above
        which the ranking survives randomisation (absolute: a ranking turned around by a random
        sign is as much set by the input as one kept); ``evaluation.sanity_threshold``, 0.5: halfway between an unrelated
        ranking (0; two independent rankings of G genes fall within about 2 / sqrt(G) of it, 0.07
        for 765 genes) and the same ranking (1): at or above it the trained model's ranking is
        closer to that of a network that learnt nothing than to an unrelated one. Measured on the
        default run's models (``benchmarks/bench_sanity.py``): every method keeps 0.01-0.05 with
        ``rank_by: positive``; with ``absolute``, the input-multiplied methods keep 0.36-0.44 on
        pbmc68k (0.12-0.14 on the simulation), the input's share of their ranking, gradients 0.02.

    Returns
    -------
    pandas.DataFrame
        ``VERDICT_COLUMNS``: per method, ``spearman_randomised`` (mean absolute correlation at the
        last randomisation step), ``spearman_random_logit`` (mean correlation with the random
        classes' importance) and ``verdict``: ``explains the model``
        (below ``threshold``), ``explains the data`` (at or above) or ``undetermined`` (no defined
        correlation).

    Raises
    ------
    ScrobinError
        When the table lacks a column of ``SANITY_COLUMNS`` or ``threshold`` is outside [0, 1].
    """
    missing = set(SANITY_COLUMNS) - set(table.columns)
    if missing:
        raise ScrobinError(f"sanity table lacks column(s) {', '.join(sorted(missing))}: pass sanity_checks output")
    if not 0.0 <= threshold <= 1.0:
        raise ScrobinError(f"the survival threshold is an absolute correlation and must lie in [0, 1], got "
                           f"{threshold!r}")
    randomised = table[table["check"] == "model_randomisation"]
    deepest = randomised.loc[randomised.groupby("method", sort=False)["layers_randomised"].idxmax()]
    logit = table[table["check"] == "random_logit"].set_index("method")["spearman_mean"]
    correlation = deepest.set_index("method")["spearman_abs_mean"]
    verdict = np.where(correlation.isna(), "undetermined",
                       np.where(correlation >= threshold, "explains the data", "explains the model"))
    return pd.DataFrame({"method": correlation.index, "spearman_randomised": correlation.to_numpy(),
                         "spearman_random_logit": logit.reindex(correlation.index).to_numpy(),
                         "verdict": verdict}, columns=list(VERDICT_COLUMNS))
