"""Deletion and insertion curves: does the model actually rely on the genes a ranking puts first?

Deletion replaces a cell's top-k genes by a baseline value and tracks the model's probability of
the cell's true class as k grows; a faithful ranking makes it fall fast (small area). Insertion
starts from the baseline and restores the top-k genes; a faithful ranking makes it rise fast
(large area). Both are compared with random gene orders (seeded, averaged over draws), the level a
ranking must beat to say anything about the model. For scaled, centred input the zero vector is
the per-gene training mean, the natural "gene carries no information" value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from scrobin.errors import ScrobinError
from scrobin.attribution.explained_model import input_layer_split
from scrobin.inference import eval_mode
from scrobin.attribution.importance import ranked_genes, ranking_score

RANDOM = "random"
MODES = ("deletion", "insertion")
# Masked inputs of one forward pass hold at most this many values (64 MiB of float32), which sets
# how many cells are perturbed together across the whole k grid.
_MAX_BATCH_VALUES = 2**24


def gene_order_from_attributions(attributions, rank_by: str = "positive") -> np.ndarray:
    """Per-cell gene order (cells x genes column indices, most important first).

    Uses each cell's own attribution, the finest ranking an attribution method offers. ``rank_by``
    follows ``scrobin.attribution.importance`` (``positive`` = largest signed attribution first).
    """
    values = np.asarray(attributions, dtype=np.float64)
    if values.ndim != 2:
        raise ScrobinError(f"attributions must be a cells x genes matrix, got shape {values.shape}")
    return np.argsort(-ranking_score(values, np.abs(values), rank_by), axis=1, kind="stable")


def gene_order_from_ranking(ranking: pd.DataFrame, genes: Sequence[str],
                            cell_types: Sequence) -> np.ndarray:
    """Per-cell gene order taken from the per-type ranking of each cell's type.

    Parameters
    ----------
    ranking
        Importance or consensus table ranking every gene of every type.
    genes
        The model's input genes, in column order.
    cell_types
        Type of each evaluated cell (its true type, matching the target class).
    """
    gene_index = pd.Index(np.asarray(genes, dtype=object))
    ordered_by_type = ranked_genes(ranking)
    type_names = list(ordered_by_type)
    type_orders = np.empty((len(type_names), len(gene_index)), dtype=np.int64)
    for row, type_name in enumerate(type_names):
        columns = gene_index.get_indexer(ordered_by_type[type_name])
        if len(columns) != len(gene_index) or (columns < 0).any():
            raise ScrobinError(f"the ranking of '{type_name}' does not cover exactly the model's "
                               f"{len(gene_index)} genes: rank the genes the model was trained on")
        type_orders[row] = columns
    codes = pd.Index(type_names).get_indexer(np.asarray(cell_types, dtype=object))
    if (codes < 0).any():
        unknown = np.asarray(cell_types, dtype=object)[codes < 0][0]
        raise ScrobinError(f"cell type '{unknown}' has no ranking: rank every type you evaluate")
    return type_orders[codes]


def k_grid(n_genes: int, max_genes: int | None = 100, n_steps: int = 21) -> np.ndarray:
    """Numbers of perturbed genes, from 0 to ``max_genes`` (all genes when ``None``)."""
    if n_steps < 2:
        raise ScrobinError(f"faithfulness n_steps must be at least 2, got {n_steps}")
    if max_genes is not None and max_genes < 1:
        raise ScrobinError(f"faithfulness max_genes must be positive or null, got {max_genes}")
    largest = n_genes if max_genes is None else min(max_genes, n_genes)
    return np.unique(np.round(np.linspace(0, largest, n_steps)).astype(np.int64))


def perturbation_curves(model: nn.Module, x: torch.Tensor, target: torch.Tensor,
                        gene_order: np.ndarray, baseline: torch.Tensor,
                        ks: np.ndarray) -> dict[str, np.ndarray]:
    """True-class probability of every cell after deleting or inserting its top-k genes.

    Parameters
    ----------
    model
        Classifier returning logits; used in eval mode, its mode is restored afterwards.
    x
        Cells x genes input on the model's device.
    target
        True class index per cell.
    gene_order
        Cells x genes column indices, most important first.
    baseline
        Per-gene value (genes,) that stands for "gene removed".
    ks
        Increasing numbers of perturbed genes.

    Returns
    -------
    dict
        ``deletion`` and ``insertion``: arrays len(ks) x cells of probabilities.
    """
    split = input_layer_split(model)
    if split is not None:
        with eval_mode(model), torch.no_grad():
            return _curves_from_input_layer(*split, x, target, gene_order, baseline, ks)
    n_cells, n_genes = x.shape
    # Position of each gene in its cell's order: the top-k genes are those with position < k.
    position = np.empty_like(gene_order)
    np.put_along_axis(position, gene_order, np.arange(n_genes)[None, :], axis=1)
    position = torch.as_tensor(position, device=x.device)
    ks_tensor = torch.as_tensor(ks, device=x.device)[:, None, None]
    cells_per_batch = max(1, _MAX_BATCH_VALUES // (len(ks) * n_genes))
    curves = {mode: np.empty((len(ks), n_cells)) for mode in MODES}
    with eval_mode(model), torch.no_grad():
        for start in range(0, n_cells, cells_per_batch):
            batch = slice(start, start + cells_per_batch)
            in_top_k = position[None, batch] < ks_tensor
            cells = x[None, batch].expand(len(ks), -1, -1)
            targets = target[batch].repeat(len(ks))
            for mode, masked in (("deletion", torch.where(in_top_k, baseline, cells)),
                                 ("insertion", torch.where(in_top_k, cells, baseline))):
                logits = model(masked.reshape(-1, n_genes))
                probability = torch.softmax(logits, dim=1).gather(1, targets[:, None])
                curves[mode][:, batch] = probability.reshape(len(ks), -1).double().cpu().numpy()
    return curves


def _curves_from_input_layer(layer: nn.Linear, rest: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                             target: torch.Tensor, gene_order: np.ndarray, baseline: torch.Tensor,
                             ks: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`perturbation_curves` for a network that starts with a linear layer.

    Deleting a cell's top k genes takes ``(x - baseline)_g W[:, g]`` of each of them off the first
    layer's output on the whole cell; inserting them adds the same to its output on the baseline.
    The sums over the cell's top k genes for every k of the grid are one product of a ks x
    ``max(ks)`` prefix matrix (weighted by the genes' offsets) with the top ``max(ks)`` genes'
    columns, instead of a forward pass over all genes per k: on the default simulation (1,200
    genes, k up to 100 in 21 steps) the first layer costs 100 instead of 21 x 1,200 gene columns
    per cell. Own code: no library computes perturbation curves this way.
    """
    n_cells = x.shape[0]
    largest = int(ks[-1])
    order = torch.as_tensor(gene_order[:, :largest], device=x.device)
    weight_t = layer.weight.T  # genes x units
    units = weight_t.shape[1]
    whole, reference = layer(x), layer(baseline[None])  # cells x units, 1 x units
    at_ks = torch.as_tensor(ks, device=x.device)
    # ks x largest: row k holds 1 for the top k positions of a cell's order.
    prefix = (torch.arange(largest, device=x.device)[None, :] < at_ks[:, None]).to(x.dtype)
    cells_per_batch = max(1, _MAX_BATCH_VALUES // max(1, largest * units))
    curves = {mode: np.empty((len(ks), n_cells)) for mode in MODES}
    for start in range(0, n_cells, cells_per_batch):
        batch = slice(start, start + cells_per_batch)
        genes = order[batch]
        offsets = (x[batch] - baseline).gather(1, genes)  # cells x largest
        # cells x ks x units: the first layer's change from the top k genes
        moved = torch.bmm(prefix[None] * offsets[:, None, :], weight_t[genes])
        targets = target[batch].repeat_interleave(len(ks))
        for mode, hidden in (("deletion", whole[batch, None] - moved), ("insertion", reference + moved)):
            logits = rest(hidden.reshape(-1, units))
            probability = torch.softmax(logits, dim=1).gather(1, targets[:, None])
            curves[mode][:, batch] = probability.reshape(-1, len(ks)).T.double().cpu().numpy()
    return curves


def model_inputs(model: nn.Module, x, target, baseline) -> tuple[torch.Tensor, ...]:
    """Input, target and per-gene baseline as validated tensors on the model's device.

    Shared with ``stability`` so every model-based evaluation accepts the same inputs (numpy,
    tensors, scalar or per-gene baseline) and follows the model to its device.
    """
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x, dtype=torch.float32,
                        device=device)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ScrobinError(f"evaluation needs a non-empty cells x genes input, got "
                           f"{tuple(x.shape)}")
    target = torch.as_tensor(target, dtype=torch.int64, device=device).reshape(-1)
    if target.shape[0] != x.shape[0]:
        raise ScrobinError(f"{target.shape[0]} targets were given for {x.shape[0]} cells: pass one "
                           f"true class per cell")
    baseline = torch.as_tensor(baseline, dtype=torch.float32, device=device)
    if baseline.ndim > 1 or (baseline.ndim == 1 and baseline.shape[0] != x.shape[1]):
        raise ScrobinError(f"baseline must be a scalar or one value per gene ({x.shape[1]}), got "
                           f"shape {tuple(baseline.shape)}")
    return x, target, baseline.expand(x.shape[1])


def faithfulness(model: nn.Module, x, target, gene_orders: Mapping[str, np.ndarray], baseline=0.0,
                 max_genes: int | None = 100, n_steps: int = 21, n_random: int = 3, seed: int = 0,
                 regime: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deletion and insertion curves and their areas for several rankings and a random one.

    Parameters
    ----------
    model
        Classifier returning logits.
    x, target
        Cells x genes input (numpy or tensor) and true class index per cell.
    gene_orders
        Ranking name -> cells x genes orders (``gene_order_from_attributions`` or
        ``gene_order_from_ranking``). The name ``random`` is reserved.
    baseline
        Value of a removed gene: scalar or one per gene (default 0 = training mean of scaled data).
    max_genes
        Largest number of perturbed genes (``None``: all genes); the k axis is normalised to [0, 1]
        over it before taking areas, so areas compare across gene counts.
    n_steps
        Points of the k grid.
    n_random
        Random orders drawn per cell and averaged into the ``random`` reference.
    seed
        Seed of the random orders.
    regime
        Written to a leading ``regime`` column of both tables when given.

    Returns
    -------
    curves : pandas.DataFrame
        ``ranking, mode, k, fraction, probability`` with the mean true-class probability over
        cells at each k.
    areas : pandas.DataFrame
        ``ranking, deletion_auc, insertion_auc, deletion_gain, insertion_gain, n_cells``: mean
        per-cell areas, and gains over random (random minus ranking for deletion, ranking minus
        random for insertion), both positive when the ranking is more faithful than chance.
    """
    x, target, baseline = model_inputs(model, x, target, baseline)
    if RANDOM in gene_orders:
        raise ScrobinError(f"ranking name '{RANDOM}' is reserved for the random reference: "
                           f"rename it")
    if n_random < 1:
        raise ScrobinError(f"faithfulness n_random must be at least 1, got {n_random}")
    n_cells, n_genes = x.shape
    for name, order in gene_orders.items():
        if np.shape(order) != (n_cells, n_genes):
            raise ScrobinError(f"gene order '{name}' has shape {np.shape(order)}, expected "
                               f"{(n_cells, n_genes)}: give one order per evaluated cell")
    ks = k_grid(n_genes, max_genes, n_steps)
    fraction = ks / ks[-1]

    probabilities = {name: perturbation_curves(model, x, target, np.asarray(order), baseline, ks)
                     for name, order in gene_orders.items()}
    rng = np.random.default_rng(seed)
    draws = [perturbation_curves(model, x, target,
                                 rng.permuted(np.tile(np.arange(n_genes), (n_cells, 1)), axis=1),
                                 baseline, ks)
             for _ in range(n_random)]
    probabilities[RANDOM] = {mode: np.mean([draw[mode] for draw in draws], axis=0)
                             for mode in MODES}

    curve_rows, area_rows = [], []
    for name, curves in probabilities.items():
        for mode in MODES:
            curve_rows.append(pd.DataFrame({"ranking": name, "mode": mode, "k": ks,
                                            "fraction": fraction,
                                            "probability": curves[mode].mean(axis=1)}))
        per_cell_areas = {f"{mode}_auc": np.trapezoid(curves[mode], fraction, axis=0)
                          for mode in MODES}
        area_rows.append({"ranking": name, "n_cells": n_cells,
                          **{column: float(values.mean())
                             for column, values in per_cell_areas.items()}})
    areas = pd.DataFrame(area_rows)
    random_row = areas.set_index("ranking").loc[RANDOM]
    areas["deletion_gain"] = random_row["deletion_auc"] - areas["deletion_auc"]
    areas["insertion_gain"] = areas["insertion_auc"] - random_row["insertion_auc"]
    areas = areas.loc[:, ["ranking", "deletion_auc", "insertion_auc", "deletion_gain",
                          "insertion_gain", "n_cells"]]
    curves_table = pd.concat(curve_rows, ignore_index=True)
    if regime is not None:
        for table in (curves_table, areas):
            table.insert(0, "regime", regime)
    return curves_table, areas
