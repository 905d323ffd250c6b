"""Coalitions of genes: evaluate the model on them and regress on them, many cells at once.

KernelSHAP and LIME explain a cell by switching genes "off" (replacing them by a reference) and
regressing the model output on which genes were kept. The masked inputs of a chunk of cells and
coalitions go through the model as one batch of cells x coalitions x background rows: the cost is
that of the forward passes alone, instead of one explainer call per cell as in shap, lime and
captum.

Each cell gets its own design: one drawn design of coalition sizes and weights, with the genes
relabelled by a random permutation per cell (``cell_gene_columns``). Both samplers draw genes
uniformly given the size, so a relabelled design is an equally valid draw, and the sampling
errors of different cells no longer sit on the same genes: a cell type's mean attribution
averages them away instead of inheriting one design's error. The regressions still share one
factorisation: permuting a design's columns permutes the solution the same way, so each cell's
coefficients are the shared solve's, read through its permutation.
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
    """Coalitions and their regression weights, relabelled per cell by ``cell_gene_columns``.

    Attributes
    ----------
    masks
        Coalitions x design columns, 1 where the column's gene keeps the cell's value, 0 where it
        takes the reference's.
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


def cell_gene_columns(
    n_cells: int,
    n_genes: int,
    generator: np.random.Generator,
    design_of_cell: np.ndarray | None = None,
) -> np.ndarray:
    """Per cell, the design column that stands for each gene (cells x genes, a permutation per row).

    Parameters
    ----------
    n_cells, n_genes
        Shape of the explained cells.
    generator
        Draws all permutations in one call (``max(design_of_cell) + 1`` of them).
    design_of_cell
        Integer index of each cell's design; default: each cell its own. Cells with the same
        index share one permutation: stability metrics re-explain perturbed copies of a cell with
        that cell's own design, so they measure the explanation's change and not a change of
        design.
    """
    if design_of_cell is None:
        design_of_cell = np.arange(n_cells)
    design_of_cell = np.asarray(design_of_cell, dtype=np.intp)
    n_designs = int(design_of_cell.max()) + 1 if len(design_of_cell) else 0
    permutations = generator.random((n_designs, n_genes)).argsort(axis=1)
    return permutations[design_of_cell]


def iter_coalition_values(
    model: nn.Module,
    x: np.ndarray,
    target: np.ndarray,
    masks: np.ndarray,
    background: np.ndarray,
    *,
    gene_columns: np.ndarray,
    batch_size: int,
    device: torch.device,
) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield (cells, values): the target output of each cell under each coalition.

    The value of coalition z for cell x is the model's target output averaged over background
    rows b of ``b + z_x * (x - b)`` (genes off the coalition take the background's values): the
    interventional value function of KernelSHAP, and LIME's perturbation when the background is
    one reference row. ``z_x`` is the design row read through the cell's ``gene_columns``
    (``z_x[g] = z[gene_columns[cell, g]]``). Values are float64 (cells of the chunk x
    coalitions) on ``device``.

    Rows of one pass stay within ``batch_size``: if all coalitions of one cell fit, several cells
    share a pass; otherwise one cell's coalitions are split over passes.
    """
    n_coalitions, n_genes = masks.shape
    n_background = len(background)
    coalitions_per_pass = min(n_coalitions, max(1, batch_size // n_background))
    masks_on_device = torch.as_tensor(masks, dtype=torch.float32, device=device)
    references = torch.as_tensor(background, device=device)
    columns_on_device = torch.as_tensor(gene_columns, dtype=torch.long, device=device)
    for cells in cell_chunks(len(x), coalitions_per_pass * n_background, batch_size):
        inputs = torch.as_tensor(x[cells], device=device)
        targets = torch.as_tensor(target[cells], device=device)
        columns = columns_on_device[cells]
        offsets = inputs[:, None, :] - references[None, :, :]
        values = torch.empty(len(inputs), n_coalitions, dtype=torch.float64, device=device)
        # Not around the yield: the caller's code must not run in no-grad mode by surprise.
        with torch.no_grad():
            for start in range(0, n_coalitions, coalitions_per_pass):
                # cells x coalitions x genes: each cell's coalitions through its permutation
                cell_masks = masks_on_device[start : start + coalitions_per_pass][:, columns].transpose(0, 1)
                rows = references[None, None] + cell_masks[:, :, None, :] * offsets[:, None]
                outputs = model(rows.reshape(-1, n_genes)).reshape(*rows.shape[:3], -1)
                index = targets.view(-1, 1, 1, 1).expand(*rows.shape[:3], 1)
                chosen = outputs.gather(3, index).squeeze(3).double()
                values[:, start : start + cell_masks.shape[1]] = chosen.mean(dim=2)
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


def per_gene(coefficients: torch.Tensor, gene_columns: np.ndarray) -> np.ndarray:
    """Coefficients per design column (cells x genes) read back per gene, float32 on the host."""
    columns = torch.as_tensor(gene_columns, dtype=torch.long, device=coefficients.device)
    return coefficients.gather(1, columns).cpu().numpy().astype(np.float32)
