"""Split cells into chunks that fit one forward pass.

Every method turns a cell into some number of model rows (integration steps, background rows,
coalitions). ``batch_size`` bounds the rows of one forward pass, which is what bounds memory, so
each method states its rows per cell and gets as many cells per chunk as fit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

ChunkAttribution = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cell_chunks(n_cells: int, rows_per_cell: int, batch_size: int) -> Iterator[slice]:
    """Yield slices of consecutive cells whose model rows fit ``batch_size`` (at least one cell)."""
    cells_per_chunk = max(1, batch_size // max(1, rows_per_cell))
    for start in range(0, n_cells, cells_per_chunk):
        yield slice(start, min(start + cells_per_chunk, n_cells))


def attribute_in_chunks(
    attribute_chunk: ChunkAttribution,
    x: np.ndarray,
    target: np.ndarray,
    *,
    rows_per_cell: int,
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """Run ``attribute_chunk(inputs, targets)`` over chunks of cells and stack the results.

    Parameters
    ----------
    attribute_chunk
        Maps a chunk's inputs (cells x genes tensor on ``device``) and target classes to its
        attributions (cells x genes tensor).
    x, target
        All cells (float32 cells x genes) and their target class indices.
    rows_per_cell, batch_size
        Model rows one cell costs and the row budget of one pass (see module docstring).
    device
        Where the model lives; chunks are moved there, results come back to host memory.

    Inputs are handed over with ``requires_grad`` set, as captum differentiates with respect to
    them (it would otherwise set it itself, with a warning per chunk).
    """
    parts = []
    for cells in cell_chunks(len(x), rows_per_cell, batch_size):
        inputs = torch.as_tensor(x[cells], device=device).requires_grad_()
        targets = torch.as_tensor(target[cells], device=device)
        parts.append(attribute_chunk(inputs, targets).detach().cpu().numpy().astype(np.float32))
    return np.concatenate(parts, axis=0)
