"""Stability of explanations: captum's ``sensitivity_max`` and ``infidelity`` on a subset of cells.

Adversarial training is expected to make explanations steadier (smaller sensitivity) and truer to
the model (smaller infidelity). Both metrics draw random perturbations; here they come from one
seeded torch generator so a rerun gives the same numbers, and the cells scored are a seeded subset
because every perturbation calls the explanation again.

* ``sensitivity_max``: largest relative change of the explanation, ||e(x + d) - e(x)|| / ||e(x)||,
  over ``n_perturb_samples`` draws of d uniform in an L-infinity ball of ``perturb_radius``.
* ``infidelity``: mean squared gap between what the explanation predicts for a perturbation I
  (I . e(x)) and the change in the model output f(x) - f(x - I), with explanations rescaled by the
  best factor (``normalize=True``) so methods with different attribution scales compare. For
  attributions multiplied by inputs (integrated gradients, DeepLIFT, SHAP, LIME: they sum to an
  output difference) I removes a random subset of genes to the baseline and the explanation's
  prediction is the sum of the removed genes' attributions (Sensitivity-n); for local
  explanations (saliency: a gradient) I is Gaussian noise. The two kinds of perturbation give
  numbers on different scales: compare infidelity across regimes for one method, or across
  methods of the same kind.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from captum.metrics import infidelity, sensitivity_max
from torch import nn

from scrobin.attribution.explained_model import with_output
from scrobin.attribution.params import OUTPUT_CHOICES
from scrobin.cells import random_subset
from scrobin.errors import ScrobinError
from scrobin.inference import eval_mode
from scrobin.evaluation.faithfulness import model_inputs


def _explanation_for_captum(explain: Callable, n_cells: int) -> Callable:
    """Adapt ``explain(x, target, cells)`` to captum, which may pass a 1-tuple of inputs (and then
    expects a 1-tuple back) and calls it with autograd disabled.

    captum explains the ``n_cells`` scored cells, then their perturbations, each cell's copies
    next to each other (``repeat_interleave``); ``cells`` tells the explanation which scored cell
    each row is, so a sampling explainer can reuse the cell's own design on its perturbed copies.
    Gradient-based explanations need autograd, so it is switched back on inside the call; the
    input arrives detached, so a numpy-based explanation can call ``x.cpu().numpy()``.

    An explanation of inputs and targets already explained is given back, not recomputed:
    ``sensitivity_max`` explains the unperturbed cells first and ``infidelity`` needs the same
    explanation again (a seeded explanation repeats exactly). For KernelSHAP that is a third of
    the stability job.
    """
    explained: list[tuple[torch.Tensor, object, torch.Tensor]] = []

    def explanation(inputs, target):
        x = (inputs[0] if isinstance(inputs, tuple) else inputs).detach()
        attributions = next((done for seen, seen_target, done in explained
                             if _same(seen, x) and _same(seen_target, target)), None)
        if attributions is None:
            cells = torch.arange(n_cells, device=x.device).repeat_interleave(len(x) // n_cells)
            with torch.enable_grad():
                attributions = explain(x, target, cells)
            attributions = torch.as_tensor(attributions, dtype=x.dtype, device=x.device).detach()
            explained.append((x.clone(), target.clone() if torch.is_tensor(target) else target, attributions))
        return (attributions,) if isinstance(inputs, tuple) else attributions
    return explanation


def _same(first, second) -> bool:
    """Whether two explanation inputs (tensors, or captum's plain targets) are equal."""
    if torch.is_tensor(first) != torch.is_tensor(second):
        return False
    if torch.is_tensor(first):
        return first.shape == second.shape and bool(torch.equal(first, second))
    return np.array_equal(np.asarray(first), np.asarray(second))


def stability_scores(model: nn.Module, explain: Callable, x, target, n_cells: int | None = 64,
                     n_perturb_samples: int = 8, perturb_radius: float = 0.02,
                     multiply_by_inputs: bool = True, removal_fraction: float = 0.1,
                     noise_sd: float = 0.1, baseline=0.0, output: str = "logits",
                     seed: int = 0) -> dict[str, float]:
    """Mean sensitivity_max and infidelity of one explanation method on one model.

    Parameters
    ----------
    model
        Classifier returning logits.
    explain
        ``explain(x_tensor, target_tensor, cells) -> attributions tensor`` (cells x genes); the
        caller wraps the attribution method and its parameters. ``cells`` holds, per row, the
        index of the scored cell it is (or perturbs), for explainers that sample per cell.
    x, target
        Cells x genes input (numpy or tensor) and the class explained for each cell.
    n_cells
        Cells scored, drawn at random with ``seed``; ``None`` scores all (the workflow draws them
        before reading any, with :func:`scrobin.cells.random_test_rows`, and passes None).
    n_perturb_samples
        Perturbations per cell for each metric.
    perturb_radius
        L-infinity radius of the sensitivity perturbations (input units: SDs for scaled data).
    multiply_by_inputs
        Whether attributions are multiplied by inputs (True for integrated gradients, DeepLIFT,
        SHAP, LIME; False for saliency); picks the infidelity perturbation (module docstring).
    removal_fraction
        Fraction of genes set to the baseline per infidelity perturbation (when
        ``multiply_by_inputs``).
    noise_sd
        Standard deviation of the Gaussian infidelity perturbation (otherwise).
    baseline
        Value of a removed gene, scalar or one per gene.
    output
        Model output the explanation explains, as the attribution method's ``output``: ``logits``
        (default) or ``probabilities``.
    seed
        Seeds the cell subset and every perturbation.

    Returns
    -------
    dict
        ``sensitivity_max``, ``infidelity`` (means over cells), their standard deviations over
        cells (``*_sd``) and standard errors of the means (``*_se`` = sd / sqrt(cells), so two
        regimes' means can be told apart from the noise of scoring few cells), and ``n_cells``.
    """
    if output not in OUTPUT_CHOICES:
        raise ScrobinError(f"stability output '{output}' is unknown: use one of "
                           f"{', '.join(OUTPUT_CHOICES)}")
    if n_perturb_samples < 1:
        raise ScrobinError(f"n_perturb_samples must be at least 1, got {n_perturb_samples}")
    if not 0.0 < removal_fraction <= 1.0:
        raise ScrobinError(f"removal_fraction must be in (0, 1], got {removal_fraction}")
    x, target, baseline = model_inputs(model, x, target, baseline)
    device = x.device
    chosen = torch.as_tensor(random_subset(x.shape[0], n_cells, np.random.default_rng(seed)),
                             device=device)
    x, target = x[chosen], target[chosen]
    generator = torch.Generator(device=device).manual_seed(seed)

    def sensitivity_perturbation(inputs, radius):
        noise = torch.rand(inputs.shape, generator=generator, device=inputs.device)
        return inputs + (2.0 * noise - 1.0) * radius

    def infidelity_perturbation(inputs):
        if multiply_by_inputs:
            # The perturbation is the 0/1 removal mask, so captum's I . e(x) is the summed
            # attribution of the removed genes, compared with the output drop their removal causes.
            removed = (torch.rand(inputs.shape, generator=generator, device=inputs.device)
                       < removal_fraction).to(inputs.dtype)
            return removed, torch.where(removed.bool(), baseline, inputs)
        noise = noise_sd * torch.randn(inputs.shape, generator=generator, device=inputs.device)
        return noise, inputs - noise

    with eval_mode(model):
        explanation = _explanation_for_captum(explain, x.shape[0])
        sensitivity = sensitivity_max(explanation, x, perturb_func=sensitivity_perturbation,
                                      perturb_radius=perturb_radius,
                                      n_perturb_samples=n_perturb_samples, target=target)
        attributions = explanation(x, target)
        with torch.no_grad():
            infidelities = infidelity(with_output(model, output), infidelity_perturbation, x,
                                      attributions, target=target,
                                      n_perturb_samples=n_perturb_samples, normalize=True)
    scores = {"n_cells": int(x.shape[0])}
    for name, values in (("sensitivity_max", sensitivity), ("infidelity", infidelities)):
        values = values.double().cpu().numpy()
        sd = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        scores.update({name: float(values.mean()), f"{name}_sd": sd, f"{name}_se": sd / np.sqrt(len(values))})
    return scores
