"""Run one registered attribution method on a set of cells: the entry point of the workflow.

Validation happens here, at the boundary: the method and its parameters against the registry,
the cells, targets and background against the model. The method functions then trust their
inputs. The run is seeded (the background sample, the coalition designs and captum's draws all
derive from ``seed``), so a CPU run repeats bit for bit.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from scrobin.attribution.baselines import baseline_rows
from scrobin.attribution.explained_model import with_output
from scrobin.inference import eval_mode
from scrobin.attribution.registry import (
    COMMON_PARAMS,
    method_spec,
    validate_baseline_spec,
    validate_method_config,
)
from scrobin.errors import ScrobinError
from scrobin.runtime import resolve_device, seed_everything


def _checked_cells(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ScrobinError(f"cells must be a non-empty cells x genes matrix, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ScrobinError("cells contain NaN or infinite values: pass the prepared model input X")
    return np.ascontiguousarray(x, dtype=np.float32)


def _checked_target(target: np.ndarray, n_cells: int, n_classes: int) -> np.ndarray:
    target = np.asarray(target)
    if target.shape != (n_cells,) or not np.issubdtype(target.dtype, np.integer):
        raise ScrobinError(
            f"target must hold one integer class index per cell ({n_cells}), "
            f"got {target.dtype} array of shape {target.shape}"
        )
    if target.min() < 0 or target.max() >= n_classes:
        raise ScrobinError(
            f"target class indices must lie in 0..{n_classes - 1} (the model's outputs), "
            f"got {target.min()}..{target.max()}"
        )
    return target.astype(np.int64)


def _n_outputs(model: nn.Module, first_cell: np.ndarray, device: torch.device) -> int:
    """Number of model outputs, from one forward pass that also checks the gene count fits."""
    try:
        with torch.inference_mode():
            return int(model(torch.as_tensor(first_cell, device=device)).shape[1])
    except RuntimeError as problem:
        raise ScrobinError(
            f"the model cannot take cells with {first_cell.shape[1]} genes "
            f"({str(problem).splitlines()[0]}): attribute the genes the model was trained on"
        ) from None


def compute_attributions(
    model: nn.Module,
    x: np.ndarray,
    target: np.ndarray,
    method: str,
    params: Mapping[str, object] | None = None,
    baseline_spec: Mapping[str, object] | None = None,
    *,
    background: np.ndarray | None = None,
    seed: int = 0,
    device: str = "auto",
    design_of_cell: np.ndarray | None = None,
) -> tuple[np.ndarray, dict]:
    """Attribute each cell's target output to its genes with a registered method.

    Parameters
    ----------
    model
        Network mapping cells x genes to cells x class logits; it is moved to ``device`` and
        restored to its training mode and gradient flags afterwards.
    x
        Cells x genes model input (float32, the prepared ``X``).
    target
        Class index per cell whose output is explained (usually the annotated cell type).
    method, params
        Registered method name and its parameters (see ``METHODS``; missing ones take defaults).
    baseline_spec
        ``{"baseline": zeros | train_mean | train_sample, "n_baseline_samples": int}``; missing
        keys take the method's defaults.
    background
        Training cells x genes, needed by ``train_mean`` and ``train_sample``.
    seed
        Seeds the background sample and every random draw of the method.
    device
        ``auto``, ``cpu`` or ``cuda``.
    design_of_cell
        For methods that sample a design per cell (KernelSHAP, LIME): one integer per cell, cells
        with the same integer sharing a design (perturbed copies of one cell); default: each cell
        its own. Other methods ignore it.

    Returns
    -------
    attributions
        Float32 cells x genes (for ``saliency`` with ``gradient_of: both``, the class gradient).
    info
        ``method``; ``params`` (effective, defaults filled); ``baseline`` (effective spec);
        ``n_baseline_rows``; ``seed``; ``device``; ``runtime_seconds`` (the method's wall time);
        and ``layers`` (name -> cells x genes) when the method returns several layers.
    """
    effective = validate_method_config(method, params)
    baseline_config = validate_baseline_spec(method, baseline_spec)
    cells = _checked_cells(x)
    torch_device = resolve_device(device)
    generator = seed_everything(seed)
    references = baseline_rows(
        baseline_config["baseline"],
        baseline_config["n_baseline_samples"],
        cells.shape[1],
        background,
        generator,
    )
    method_params = {key: value for key, value in effective.items() if key not in COMMON_PARAMS}
    if design_of_cell is not None and method_spec(method).per_cell_design:
        design_of_cell = np.asarray(design_of_cell)
        if design_of_cell.shape != (len(cells),) or not np.issubdtype(design_of_cell.dtype, np.integer):
            raise ScrobinError(f"design_of_cell must hold one integer per cell ({len(cells)}), got shape {design_of_cell.shape}")
        method_params["design_of_cell"] = design_of_cell
    explained = with_output(model.to(torch_device), effective["output"])
    with eval_mode(explained, frozen=True):
        n_outputs = _n_outputs(explained, cells[:1], torch_device)
        targets = _checked_target(target, len(cells), n_outputs)
        started = time.perf_counter()
        result = method_spec(method).function(
            explained,
            cells,
            targets,
            baseline=references,
            generator=generator,
            device=torch_device,
            batch_size=effective["batch_size"],
            **method_params,
        )
        runtime = time.perf_counter() - started
    info = {
        "method": method,
        "params": effective,
        "baseline": baseline_config,
        "n_baseline_rows": len(references),
        "seed": seed,
        "device": str(torch_device),
        "runtime_seconds": runtime,
    }
    if isinstance(result, Mapping):
        info["layers"] = dict(result)
        result = next(iter(result.values()))
    return result, info
