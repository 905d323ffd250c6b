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

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from scrobin.attribution.batching import cell_chunks
from scrobin.errors import ScrobinError
from scrobin.attribution.explained_model import input_layer_split


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

    The genes with the ``sizes[i]`` smallest of i.i.d. uniform keys are a uniform subset of that
    size, for all rows at once. They are those at or below the row's ``sizes[i]``-th smallest key:
    one sort finds it (ranking the keys by two argsorts gave the same masks at 2.4x the time).
    """
    keys = generator.random((len(sizes), n_genes))
    sizes = np.asarray(sizes)
    threshold = np.sort(keys, axis=1)[np.arange(len(sizes)), np.maximum(sizes, 1) - 1]
    return ((keys <= threshold[:, None]) & (sizes[:, None] > 0)).astype(np.float32)


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
    share a pass; otherwise one cell's coalitions are split over passes. A network that starts
    with a linear layer has that layer computed from the design itself, without building the
    masked rows (:class:`InputLayerShortcut`).
    """
    n_coalitions, n_genes = masks.shape
    n_background = len(background)
    coalitions_per_pass = min(n_coalitions, max(1, batch_size // n_background))
    masks_on_device = torch.as_tensor(masks, dtype=torch.float32, device=device)
    references = torch.as_tensor(background, device=device)
    columns_on_device = torch.as_tensor(gene_columns, dtype=torch.long, device=device)
    cells_per_chunk = max(1, batch_size // (coalitions_per_pass * n_background))
    split = input_layer_split(model)
    shortcut = None
    if split is not None and InputLayerShortcut.fits(min(cells_per_chunk, len(x)) * n_background, split[0]):
        shortcut = InputLayerShortcut(masks_on_device, coalitions_per_pass, *split)
    for cells in cell_chunks(len(x), coalitions_per_pass * n_background, batch_size):
        inputs = torch.as_tensor(x[cells], device=device)
        targets = torch.as_tensor(target[cells], device=device)
        columns = columns_on_device[cells]
        offsets = inputs[:, None, :] - references[None, :, :]
        values = torch.empty(len(inputs), n_coalitions, dtype=torch.float64, device=device)
        # Not around the yield: the caller's code must not run in no-grad mode by surprise.
        with torch.no_grad():
            state = shortcut.chunk_state(references, offsets, columns) if shortcut is not None else None
            for index, start in enumerate(range(0, n_coalitions, coalitions_per_pass)):
                if shortcut is not None:
                    # cells x coalitions x background x outputs, from the input layer's shortcut
                    outputs = shortcut.outputs(index, state)
                else:
                    # cells x coalitions x genes: each cell's coalitions through its permutation
                    cell_masks = masks_on_device[start : start + coalitions_per_pass][:, columns].transpose(0, 1)
                    rows = references[None, None] + cell_masks[:, :, None, :] * offsets[:, None]
                    outputs = model(rows.reshape(-1, n_genes)).reshape(*rows.shape[:3], -1)
                index_of_target = targets.view(-1, 1, 1, 1).expand(*outputs.shape[:3], 1)
                chosen = outputs.gather(3, index_of_target).squeeze(3).double()
                values[:, start : start + outputs.shape[1]] = chosen.mean(dim=2)
        yield cells, values


# Cells whose regressions are solved together (:func:`in_solve_blocks`).
SOLVE_BLOCK_CELLS = 64


def in_solve_blocks(
    chunks: Iterator[tuple[slice, torch.Tensor]], block_cells: int = SOLVE_BLOCK_CELLS
) -> Iterator[tuple[slice, torch.Tensor]]:
    """Join consecutive ``(cells, values)`` chunks of :func:`iter_coalition_values` until they hold
    ``block_cells`` cells, so one product with the shared weighted design solves them all.

    A solve reads the whole float64 design (KernelSHAP's default on the simulation's 1,200 genes:
    85 MB), and KernelSHAP's chunks are single cells: solved per chunk, that read was 8 ms of a
    cell's 60; per block of 64 cells it is one matrix product.
    """
    pending: list[tuple[slice, torch.Tensor]] = []
    n_pending = 0
    for cells, values in chunks:
        pending.append((cells, values))
        n_pending += values.shape[0]
        if n_pending >= block_cells:
            yield _joined(pending)
            pending, n_pending = [], 0
    if pending:
        yield _joined(pending)


def _joined(chunks: list[tuple[slice, torch.Tensor]]) -> tuple[slice, torch.Tensor]:
    """Consecutive chunks as one: their cells' slice and their values stacked."""
    cells = slice(chunks[0][0].start, chunks[-1][0].stop)
    return cells, chunks[0][1] if len(chunks) == 1 else torch.cat([values for _, values in chunks])


@dataclass(frozen=True)
class PassProduct:
    """One pass's design as :class:`InputLayerShortcut` multiplies it by a chunk's factor.

    Attributes
    ----------
    sparse
        Minority rows with few genes (sparse), or None.
    dense
        The coalitions themselves (``row_of_coalition`` None: the plain form), else the minority
        rows with many genes; or None.
    row_of_coalition
        Per coalition (majority-kept first), its minority row: the sparse rows, then the dense ones.
    n_majority
        Coalitions keeping more than half the genes (their minority is the genes replaced).
    restore
        Index putting the reordered coalitions back in the design's order.
    """

    sparse: torch.Tensor | None
    dense: torch.Tensor | None
    row_of_coalition: torch.Tensor | None = None
    n_majority: int = 0
    restore: torch.Tensor | None = None


class InputLayerShortcut:
    """The input layer's output on masked rows, computed from the design instead of the rows.

    For the row ``b + z_x * (x - b)`` a linear layer gives ``W b + bias + sum over kept genes of
    (x - b)_g W[:, g]``: the design times a per-cell factor (rows ``(x - b)_g W[:, g]``). One
    product covers every coalition of a pass and every cell of a chunk, as each cell's permutation
    reorders the rows of its factor instead of the columns of the design; the masked rows
    (coalitions x genes per cell) are never built.

    Where coalitions differ from all-kept or all-replaced in few genes (the Shapley kernel draws
    mostly such coalitions), the product runs over each coalition's minority: the kept genes when
    at most half are kept, else the replaced ones, whose sum is taken from the full sum. A
    coalition and its complement (KernelSHAP draws pairs) share one minority, hence one row.
    Minority rows of few genes are multiplied sparse, the others dense, whichever costs less.

    Own code: captum's and shap's KernelSHAP evaluate every full row. Measured as the marginal
    CPU time per cell of ``compute_attributions`` (80 cells minus 20, one thread, two runs) on the
    default simulation's model (wide preset: 1,200 genes, 512 units): KernelSHAP's default design
    about 50 ms per cell, against about 85 ms for the sparse-only form with separate copies that
    preceded this one and 250 ms for full rows; LIME about 32 ms (34 ms; full rows 54 ms). Equal
    to the full rows' values within 1e-7.
    """

    # A sparse product costs about this many times a dense one per multiply-add (CPU, one thread,
    # measured: KernelSHAP's 4,335 minority rows of 1,200 genes times 512 units, 8.2 G multiply-adds
    # per second sparse, 47 G dense).
    SPARSE_COST = 6.0
    # Most elements of one chunk's factor (cells x background rows x genes x units).
    MAX_FACTOR_ELEMENTS = 1 << 25

    def __init__(self, masks: torch.Tensor, coalitions_per_pass: int, layer: nn.Linear,
                 rest: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.layer, self.rest = layer, rest
        self.passes = [self._product(masks[start : start + coalitions_per_pass])
                       for start in range(0, len(masks), coalitions_per_pass)]

    @classmethod
    def _product(cls, masks: torch.Tensor) -> PassProduct:
        """One pass's design in the cheaper of the minority form and the plain dense form."""
        n_genes = masks.shape[1]
        majority = masks.sum(dim=1) > n_genes / 2
        minority = torch.where(majority[:, None], masks == 0, masks == 1)
        unique, row_of_coalition = torch.unique(minority, dim=0, return_inverse=True)
        genes_in_row = unique.sum(dim=1)
        few = genes_in_row * cls.SPARSE_COST < n_genes
        minority_cost = genes_in_row[few].sum().item() * cls.SPARSE_COST + (~few).sum().item() * n_genes
        if minority_cost >= masks.numel():
            return PassProduct(sparse=None, dense=masks)
        # Sparse rows first, then dense ones; coalitions majority-kept first, so the full-sum
        # correction applies to one leading block of rows in place.
        by_kind = torch.argsort(~few, stable=True)
        new_row = torch.empty(len(unique), dtype=row_of_coalition.dtype)
        new_row[by_kind] = torch.arange(len(unique))  # old minority row -> its place in [sparse; dense]
        order = torch.argsort(~majority, stable=True)
        return PassProduct(
            sparse=unique[few].float().to_sparse() if few.any() else None,
            dense=unique[~few].float() if not few.all() else None,
            row_of_coalition=new_row[row_of_coalition[order]],
            n_majority=int(majority.sum()),
            restore=torch.argsort(order),
        )

    @classmethod
    def fits(cls, factor_rows: int, layer: nn.Linear) -> bool:
        """Whether a chunk's factor (``factor_rows`` cells x background rows) stays within memory bounds."""
        return factor_rows * layer.weight.numel() <= cls.MAX_FACTOR_ELEMENTS

    def chunk_state(self, references: torch.Tensor, offsets: torch.Tensor, columns: torch.Tensor) -> tuple:
        """What every pass of one chunk of cells shares: each cell's dense factor with its rows in
        design-column order, the full sums and the references' output.

        ``references`` (background x genes), ``offsets`` (cells x background x genes: cell minus
        reference) and ``columns`` (cells x genes: the design column of each gene) as in
        :func:`iter_coalition_values`.
        """
        weight_t = self.layer.weight.T  # genes x units
        n_cells, n_background, n_genes = offsets.shape
        units = weight_t.shape[1]
        gene_of_column = columns.argsort(dim=1)
        ordered = offsets.gather(2, gene_of_column[:, None, :].expand(-1, n_background, -1))
        factor = ordered[:, :, :, None] * weight_t[gene_of_column][:, None]  # cells x background x columns x units
        wide = factor.permute(2, 0, 1, 3).reshape(n_genes, -1)
        reference_output = self.layer(references)  # background x units
        full_output = offsets @ weight_t + reference_output  # cells x background x units: every gene kept
        return wide, full_output, reference_output, (n_cells, n_background, units)

    def outputs(self, pass_index: int, state: tuple) -> torch.Tensor:
        """Network outputs of one pass's coalitions, cells x coalitions x background rows x outputs.

        The hidden layer is laid out coalitions x cells x background x units and every step on it
        runs in place, so the pass costs the product, one copy and the rest of the network: the
        memory passes over this largest tensor, not the arithmetic, set the time.
        """
        wide, full_output, reference_output, (n_cells, n_background, units) = state
        product = self.passes[pass_index]
        if product.row_of_coalition is None:
            hidden = (product.dense @ wide).view(-1, n_cells, n_background, units)
            hidden += reference_output
        else:
            n_sparse = 0 if product.sparse is None else product.sparse.shape[0]
            n_dense = 0 if product.dense is None else product.dense.shape[0]
            minority_sum = torch.empty(n_sparse + n_dense, wide.shape[1], dtype=wide.dtype, device=wide.device)
            if n_sparse:
                minority_sum[:n_sparse] = torch.sparse.mm(product.sparse, wide)
            if n_dense:
                torch.mm(product.dense, wide, out=minority_sum[n_sparse:])
            hidden = minority_sum[product.row_of_coalition].view(-1, n_cells, n_background, units)
            kept_all_but = hidden[: product.n_majority]
            torch.sub(full_output, kept_all_but, out=kept_all_but)  # the majority's: all minus the left-out
            hidden[product.n_majority :] += reference_output
        outputs = _rest_on_own_tensor(self.rest, hidden.view(-1, units))
        outputs = outputs.view(-1, n_cells, n_background, outputs.shape[-1])
        if product.restore is not None:
            outputs = outputs[product.restore]
        return outputs.permute(1, 0, 2, 3)


def coalition_gram(masks: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted Gram matrix ``sum_s w_s z_s z_s^T`` of 0/1 coalitions (genes x genes, float64).

    Each coalition is written through its minority u (the kept genes when at most half are kept,
    else the replaced ones): z z^T is u u^T, or 1 1^T - u 1^T - 1 u^T + u u^T. The u u^T terms of
    one weight are one float32 product of 0/1 rows with multiplicities, exact because its entries
    are counts below 2^24, and a coalition and its complement (KernelSHAP draws pairs) share u.
    Designs with many distinct weights (LIME's depend on the kept count) take the plain float64
    product instead.

    Own code, for speed: on 1,200 genes and 8,896 coalitions (one thread) the float64 product of
    the weighted design took 0.71 s and this takes 0.24 s, the same matrix up to float64
    rounding; every KernelSHAP call builds one (two per stability job).
    """
    weights = np.asarray(weights, dtype=np.float64)
    distinct = np.unique(weights)
    if len(distinct) > MAX_GRAM_WEIGHT_GROUPS or len(masks) >= 1 << 24:
        masks64 = np.asarray(masks, dtype=np.float64)
        return masks64.T @ (masks64 * weights[:, None])
    n_genes = masks.shape[1]
    majority = masks.sum(axis=1) > n_genes / 2
    minority = np.where(majority[:, None], masks == 0, masks == 1)
    gram = np.zeros((n_genes, n_genes), dtype=np.float64)
    majority_sum = np.zeros(n_genes, dtype=np.float64)  # sum over majority coalitions of w u
    for weight in distinct:
        in_group = weights == weight
        rows = minority[in_group]
        packed = np.ascontiguousarray(np.packbits(rows, axis=1))
        keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
        _, first, counts = np.unique(keys, return_index=True, return_counts=True)
        unique = rows[first].astype(np.float32)
        gram += weight * ((unique * counts[:, None].astype(np.float32)).T @ unique).astype(np.float64)
        majority_sum += weight * minority[in_group & majority].sum(axis=0)
    gram += weights[majority].sum() - majority_sum[:, None] - majority_sum[None, :]
    return gram


# Above this many distinct coalition weights, coalition_gram's per-weight products cost more than
# one float64 product.
MAX_GRAM_WEIGHT_GROUPS = 16


def _rest_on_own_tensor(rest: Callable[[torch.Tensor], torch.Tensor], hidden: torch.Tensor) -> torch.Tensor:
    """``rest(hidden)`` for a hidden layer nobody else holds: a leading ReLU runs in place.

    ``nn.ReLU`` would copy the largest tensor of the pass (KernelSHAP's 8,192 coalitions x 512
    units: 2.1 ms against 0.4 ms in place, about 4% of a cell's time).
    """
    if type(rest) is nn.Sequential and len(rest) > 0 and type(rest[0]) is nn.ReLU:
        return rest[1:](torch.relu_(hidden))
    return rest(hidden)


class SharedDesignSolver:
    """Weighted (ridge) least squares for many cells sharing one design.

    Solves min_beta sum_s w_s (y_s - a_s . beta)^2 + ridge |beta|^2 for every cell's responses y
    with the same design rows a_s and weights w_s. The normal matrix is factored once (Cholesky,
    float64); each chunk of cells is then one triangular solve with one right-hand side per cell.
    ``normal_matrix`` (design columns squared, float64) is ``design^T diag(weights) design`` when
    the caller has it cheaper (KernelSHAP, from :func:`coalition_gram`); the ridge is added to it.
    """

    def __init__(self, design: torch.Tensor, weights: torch.Tensor, ridge: float = 0.0,
                 normal_matrix: torch.Tensor | None = None) -> None:
        self.weighted_design = design * weights[:, None]
        if normal_matrix is None:
            normal_matrix = design.T @ self.weighted_design
        else:
            normal_matrix = normal_matrix.to(dtype=design.dtype, device=design.device, copy=True)
        normal_matrix.diagonal().add_(ridge)
        self.factor, failed = torch.linalg.cholesky_ex(normal_matrix)
        if int(failed):
            raise ScrobinError(
                f"the {design.shape[0]} sampled coalitions cannot determine {design.shape[1]} "
                "gene effects (some gene is in no coalition's minority or the coalitions are too "
                "few): increase n_samples (well above twice the number of genes) or set it to null "
                "for the default"
            )

    def solve(self, responses: torch.Tensor) -> torch.Tensor:
        """Coefficients (cells x design columns) for responses (cells x design rows)."""
        return torch.cholesky_solve(self.weighted_design.T @ responses.T, self.factor).T


def per_gene(coefficients: torch.Tensor, gene_columns: np.ndarray) -> np.ndarray:
    """Coefficients per design column (cells x genes) read back per gene, float32 on the host."""
    columns = torch.as_tensor(gene_columns, dtype=torch.long, device=coefficients.device)
    return coefficients.gather(1, columns).cpu().numpy().astype(np.float32)
