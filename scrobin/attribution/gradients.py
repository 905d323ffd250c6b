"""Gradient-based attribution methods, computed by captum.

Each function follows the registry's method interface (see ``scrobin.attribution.registry``):
``method(model, x, target, *, baseline, generator, device, batch_size, **params)``; keywords a
method has no use for (saliency has no baseline) are accepted and ignored so callers never
special-case one method. Baselines arrive as rows x genes arrays: one row for single-reference
methods, the background sample for the SHAP-style ones.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import DeepLift, DeepLiftShap, GradientShap, IntegratedGradients, Saliency
from torch import nn

from scrobin.attribution.batching import ChunkAttribution, attribute_in_chunks
from scrobin.attribution.explained_model import logits_model



def _class_gradient(model: nn.Module, absolute: bool) -> ChunkAttribution:
    explainer = Saliency(model)

    def attribute_chunk(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return explainer.attribute(inputs, target=targets, abs=absolute)

    return attribute_chunk


def _loss_gradient(model: nn.Module, absolute: bool) -> ChunkAttribution:
    network = logits_model(model)

    def cross_entropy_per_cell(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(network(inputs), targets, reduction="none")

    explainer = Saliency(cross_entropy_per_cell)

    def attribute_chunk(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return explainer.attribute(inputs, additional_forward_args=(targets,), abs=absolute)

    return attribute_chunk


def saliency(
    model: nn.Module,
    x: np.ndarray,
    target: np.ndarray,
    *,
    baseline: np.ndarray,
    generator: np.random.Generator,
    device: torch.device,
    batch_size: int,
    gradient_of: str = "class",
    absolute: bool = False,
) -> np.ndarray | dict[str, np.ndarray]:
    """Input gradient of the target class score or of the cross-entropy loss.

    As digitalDLSorteR's ``interGradientsDL(method=)``: ``gradient_of="class"`` differentiates
    the target class's output (logit or probability, per ``output``), ``"loss"`` the
    cross-entropy of the logits against the target class. The loss gradient is returned as is:
    positive values mean raising the gene raises the loss, i.e. count *against* the class (the
    direction FGSM follows). ``"both"`` returns ``{"class": ..., "loss": ...}``; the registry
    makes the first the main result and keeps both as named layers. ``absolute`` takes |gradient|
    (the original saliency map); the default keeps the sign for the importance step to use.
    """
    objectives = ("class", "loss") if gradient_of == "both" else (gradient_of,)
    gradient_factories = {"class": _class_gradient, "loss": _loss_gradient}
    layers = {
        objective: attribute_in_chunks(
            gradient_factories[objective](model, absolute),
            x,
            target,
            rows_per_cell=1,
            batch_size=batch_size,
            device=device,
        )
        for objective in objectives
    }
    return layers if gradient_of == "both" else layers[gradient_of]


def integrated_gradients(
    model: nn.Module,
    x: np.ndarray,
    target: np.ndarray,
    *,
    baseline: np.ndarray,
    generator: np.random.Generator,
    device: torch.device,
    batch_size: int,
    n_steps: int = 50,
    multiply_by_inputs: bool = True,
) -> np.ndarray:
    """Integrated gradients along the straight path from the baseline row to each cell.

    ``n_steps`` Gauss-Legendre points approximate the path integral, so attributions sum to
    f(x) - f(baseline) up to the quadrature error. Without ``multiply_by_inputs`` the path-averaged
    gradient is returned (captum's "local" variant). A chunk holds ``batch_size // n_steps`` cells,
    so the rows of one pass stay within ``batch_size``.
    """
    explainer = IntegratedGradients(model, multiply_by_inputs=multiply_by_inputs)
    reference = torch.as_tensor(baseline, device=device)

    def attribute_chunk(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return explainer.attribute(
            inputs, baselines=reference.expand_as(inputs), target=targets, n_steps=n_steps
        )

    return attribute_in_chunks(
        attribute_chunk, x, target, rows_per_cell=n_steps, batch_size=batch_size, device=device
    )


def deeplift(
    model: nn.Module,
    x: np.ndarray,
    target: np.ndarray,
    *,
    baseline: np.ndarray,
    generator: np.random.Generator,
    device: torch.device,
    batch_size: int,
) -> np.ndarray:
    """DeepLIFT (rescale rule) averaged over the baseline rows: DeepLIFT or DeepSHAP.

    Against one reference row this is DeepLIFT, and attributions sum exactly to
    f(x) - f(baseline). Against a background sample it is DeepSHAP (shap's DeepExplainer):
    the average of DeepLIFT over the rows, summing to f(x) minus the mean background output.
    captum's DeepLiftShap refuses a single row, which is its own one-row average, so one row goes
    to DeepLift. captum evaluates cells and references together: two model rows per cell and
    reference row.
    """
    background = torch.as_tensor(baseline, device=device)
    if len(baseline) == 1:
        explainer = DeepLift(model)

        def attribute_chunk(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            return explainer.attribute(
                inputs, baselines=background.expand_as(inputs), target=targets
            )

    else:
        explainer = DeepLiftShap(model)

        def attribute_chunk(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            return explainer.attribute(inputs, baselines=background, target=targets)

    with warnings.catch_warnings():
        # captum announces on every call that it hooks the activations and removes them after.
        warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
        return attribute_in_chunks(
            attribute_chunk,
            x,
            target,
            rows_per_cell=2 * len(baseline),
            batch_size=batch_size,
            device=device,
        )


def gradientshap(
    model: nn.Module,
    x: np.ndarray,
    target: np.ndarray,
    *,
    baseline: np.ndarray,
    generator: np.random.Generator,
    device: torch.device,
    batch_size: int,
    n_samples: int = 200,
    stdevs: float = 0.0,
) -> np.ndarray:
    """GradientSHAP (expected gradients): gradients at random points between background and cell.

    Each of ``n_samples`` draws picks a background row and a uniform point on the path to the
    cell (plus Gaussian noise of ``stdevs`` on the cell, SmoothGrad-style), and averages gradient
    times (cell - background row); shap's GradientExplainer does the same with 200 draws.
    captum draws from numpy's and torch's global generators, so they are seeded from
    ``generator`` first: results then depend on the seed only.
    """
    draw_seed = int(generator.integers(2**31))
    np.random.seed(draw_seed)
    torch.manual_seed(draw_seed)
    explainer = GradientShap(model)
    background = torch.as_tensor(baseline, device=device)

    def attribute_chunk(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return explainer.attribute(
            inputs, baselines=background, n_samples=n_samples, stdevs=stdevs, target=targets
        )

    return attribute_in_chunks(
        attribute_chunk, x, target, rows_per_cell=n_samples, batch_size=batch_size, device=device
    )
