"""LIME batched over cells: a weighted ridge surrogate on binary "gene kept" features.

Interpretable features are binary: gene kept at the cell's value, or replaced by the baseline
(averaged over background rows when there are several). Perturbations follow LIME's text and image
samplers: the number of replaced genes is uniform on 1..genes, the genes uniformly chosen, plus
the unperturbed cell. Samples are weighted by an exponential kernel exp(-d^2 / width^2) on their
distance to the cell, and a ridge regression with intercept (as LIME's default ``Ridge(alpha=1)``)
gives one coefficient per gene. Unlike ``lime.lime_tabular`` (perturbations drawn from training
feature statistics), the comparison is against the same baseline as the other methods.

Each cell's perturbations are one drawn design with the genes relabelled by a permutation of its
own (``scrobin.attribution.coalitions``): each surrogate is an ordinary LIME fit, the cells'
sampling errors fall on different genes, and all fits are still one solve.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from scrobin.attribution.coalitions import (
    CoalitionDesign,
    SharedDesignSolver,
    cell_gene_columns,
    in_solve_blocks,
    iter_coalition_values,
    per_gene,
    random_subsets,
)

def lime_design(
    n_genes: int,
    n_samples: int,
    distance: str,
    kernel_width: float,
    generator: np.random.Generator,
) -> CoalitionDesign:
    """Draw ``n_samples`` perturbations (the first is the cell itself) and their kernel weights.

    ``cosine`` is LIME's distance for binary features: between a mask keeping k of n genes and the
    all-kept vector it is 1 - sqrt(k / n) (1 when nothing is kept). ``hamming`` is the fraction of
    genes replaced. Both lie in [0, 1], so one ``kernel_width`` (default 0.25) suits any gene count.
    """
    replaced = generator.integers(1, n_genes + 1, size=n_samples - 1)
    perturbed = random_subsets(n_genes - replaced, n_genes, generator)
    masks = np.concatenate([np.ones((1, n_genes), dtype=np.float32), perturbed])
    kept_fraction = masks.mean(axis=1, dtype=np.float64)
    if distance == "cosine":
        distances = 1.0 - np.sqrt(kept_fraction)
    else:
        distances = 1.0 - kept_fraction
    return CoalitionDesign(masks=masks, weights=np.exp(-((distances / kernel_width) ** 2)))


def lime_with_design(
    model: nn.Module,
    x: np.ndarray,
    target: np.ndarray,
    background: np.ndarray,
    design: CoalitionDesign,
    *,
    alpha: float,
    gene_columns: np.ndarray | None = None,
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """Surrogate coefficients (cells x genes) from a given perturbation design.

    ``gene_columns`` (cells x genes, from ``cell_gene_columns``) relabels the design's genes per
    cell; ``None`` gives every cell the design as drawn. The intercept is removed by centring the design on its weighted mean, after which the
    weighted responses need no centring (centred columns are orthogonal to the constant).
    """
    weights = torch.as_tensor(design.weights, dtype=torch.float64, device=device)
    masks64 = torch.as_tensor(design.masks, dtype=torch.float64, device=device)
    centred = masks64 - (weights @ masks64) / weights.sum()
    solver = SharedDesignSolver(centred, weights, ridge=alpha)
    if gene_columns is None:
        gene_columns = np.tile(np.arange(x.shape[1]), (len(x), 1))
    coefficients = np.empty(x.shape, dtype=np.float32)
    for cells, values in in_solve_blocks(iter_coalition_values(
        model, x, target, design.masks, background, gene_columns=gene_columns, batch_size=batch_size, device=device
    )):
        coefficients[cells] = per_gene(solver.solve(values), gene_columns[cells])
    return coefficients


def lime(
    model: nn.Module,
    x: np.ndarray,
    target: np.ndarray,
    *,
    baseline: np.ndarray,
    generator: np.random.Generator,
    device: torch.device,
    batch_size: int,
    n_samples: int = 2500,
    kernel_width: float = 0.25,
    distance: str = "cosine",
    alpha: float = 1.0,
    design_of_cell: np.ndarray | None = None,
) -> np.ndarray:
    """LIME coefficients of every cell: the effect of keeping each gene versus the baseline.

    ``n_samples`` perturbations cost ``n_samples x baseline rows`` model rows per cell;
    ``alpha`` is the ridge penalty. ``design_of_cell`` (one integer per cell; default: each cell
    its own) says which cells share a design, as in ``cell_gene_columns``.
    """
    design = lime_design(x.shape[1], n_samples, distance, kernel_width, generator)
    gene_columns = cell_gene_columns(len(x), x.shape[1], generator, design_of_cell)
    return lime_with_design(
        model, x, target, baseline, design, alpha=alpha, gene_columns=gene_columns, batch_size=batch_size, device=device
    )
