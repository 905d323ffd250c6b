"""Coalitions of genes: evaluate the model on them and regress on them, many cells at once.

KernelSHAP and LIME explain a cell by switching genes "off" (replacing them by a reference) and
regressing the model output on which genes were kept. Both use one design of coalitions for all
cells, so the masked inputs of a chunk of cells and coalitions go through the model as one batch
of cells x coalitions x background rows: the cost is that of the forward passes alone, instead of
one explainer call per cell as in shap, lime and captum. Because the design and its weights are
shared, the regressions of all cells are one factorisation and one solve with many right-hand sides.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from scrobin.attribution.batching import cell_chunks
from scrobin.errors import ScrobinError


@dataclass(frozen=True)
class CoalitionDesign:
    """Coalitions shared by all cells and their regression weights.

    Attributes
    ----------
    masks
        Coalitions x genes, 1 where the gene keeps the cell's value, 0 where it takes the
        reference's.
    weights
        Regression weight of each coalition.
    """

    masks: np.ndarray
    weights: np.ndarray


def random_subsets(sizes: np.ndarray, n_genes: int, generator: np.random.Generator) -> np.ndarray:
    """Masks of uniformly random gene subsets, row i holding exactly ``sizes[i]`` genes.

    Ranking i.i.d. uniform keys gives a uniform random permutation per row; keeping the genes
    ranked below the size draws a uniform subset of that size, for all rows at once.
    """
    ranks = generator.random((len(sizes), n_genes)).argsort(axis=1).argsort(axis=1)
    return (ranks < np.asarray(sizes)[:, None]).astype(np.float32)


def iter_coalition_values(
    model: nn.Module,
    x: np.ndarray,
    target: np.ndarray,
    masks: np.ndarray,
    background: np.ndarray,
    *,
    batch_size: int,
    device: torch.device,
) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield (cells, values): the target output of each cell under each coalition.

    The value of coalition z for cell x is the model's target output averaged over background
    rows b of ``b + z * (x - b)`` (genes off the coalition take the background's values): the
    interventional value function of KernelSHAP, and LIME's perturbation when the background is
    one reference row. Values are float64 (cells of the chunk x coalitions) on ``device``.

    Rows of one pass stay within ``batch_size``: if all coalitions of one cell fit, several cells
    share a pass; otherwise one cell's coalitions are split over passes.
    """
    n_coalitions, n_genes = masks.shape
    n_background = len(background)
    coalitions_per_pass = min(n_coalitions, max(1, batch_size // n_background))
    masks_on_device = torch.as_tensor(masks, dtype=torch.float32, device=device)
    references = torch.as_tensor(background, device=device)
    for cells in cell_chunks(len(x), coalitions_per_pass * n_background, batch_size):
        inputs = torch.as_tensor(x[cells], device=device)
        targets = torch.as_tensor(target[cells], device=device)
        offsets = inputs[:, None, :] - references[None, :, :]
        values = torch.empty(len(inputs), n_coalitions, dtype=torch.float64, device=device)
        # Not around the yield: the caller's code must not run in no-grad mode by surprise.
        with torch.no_grad():
            for start in range(0, n_coalitions, coalitions_per_pass):
                chunk_masks = masks_on_device[start : start + coalitions_per_pass]
                rows = references[None, None] + chunk_masks[None, :, None, :] * offsets[:, None]
                outputs = model(rows.reshape(-1, n_genes)).reshape(*rows.shape[:3], -1)
                index = targets.view(-1, 1, 1, 1).expand(*rows.shape[:3], 1)
                chosen = outputs.gather(3, index).squeeze(3).double()
                values[:, start : start + len(chunk_masks)] = chosen.mean(dim=2)
        yield cells, values


class SharedDesignSolver:
    """Weighted (ridge) least squares for many cells sharing one design.

    Solves min_beta sum_s w_s (y_s - a_s . beta)^2 + ridge |beta|^2 for every cell's responses y
    with the same design rows a_s and weights w_s. The normal matrix is factored once (Cholesky,
    float64); each chunk of cells is then one triangular solve with one right-hand side per cell.
    """

    def __init__(self, design: torch.Tensor, weights: torch.Tensor, ridge: float = 0.0) -> None:
        self.weighted_design = design * weights[:, None]
        normal_matrix = design.T @ self.weighted_design
        normal_matrix.diagonal().add_(ridge)
        self.factor, failed = torch.linalg.cholesky_ex(normal_matrix)
        if int(failed):
            raise ScrobinError(
                f"the {design.shape[0]} sampled coalitions cannot determine {design.shape[1]} "
                "gene effects: increase n_samples (at least about twice the number of genes)"
            )

    def solve(self, responses: torch.Tensor) -> torch.Tensor:
        """Coefficients (cells x design columns) for responses (cells x design rows)."""
        return torch.cholesky_solve(self.weighted_design.T @ responses.T, self.factor).T
