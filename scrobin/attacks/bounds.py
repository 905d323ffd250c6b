"""Worst case of a ReLU network over an L-inf box around each cell: bound propagation.

An attack finds *some* perturbed cell; bound propagation proves what *no* perturbed cell can do,
so attacks bracket the true robust accuracy from above and certification from below. Two
methods, both batched over cells:

- **IBP**, interval bound propagation (Gowal et al. 2018, "On the effectiveness of interval bound
  propagation for training verifiably robust models"): each layer maps a box to the smallest box
  containing its image. The last layer is propagated as the difference of rows ``W[y] - W[j]``
  (the margin ``z_y - z_j`` directly), which is tighter than subtracting logit intervals as
  ART's ``PyTorchIBPClassifier`` does, and exact for a purely linear model.
- **CROWN** (Zhang et al. 2018, "Efficient neural network robustness certification with general
  activation functions"): the margin is bounded by a linear function of the input, built backward
  through the layers with a linear lower and upper bound of every ReLU whose input interval
  crosses 0: the chord above and a line through the origin below, of slope 1 where the interval
  reaches further above 0 than below and 0 otherwise (the adaptive lower slope). Bounds of hidden
  pre-activations come from CROWN itself, layer by layer (full CROWN): scrobin's networks are
  shallow (one hidden layer by default, seven in the paper preset), and IBP's boxes grow with
  depth. On one hidden layer there is nothing to refine (the first layer's box is exact), so
  CROWN costs one backward pass per class; on the paper preset the intermediate passes dominate.
- **CROWN-IBP** (Zhang et al. 2020, "Towards stable and efficient training of verifiably robust
  neural networks"): CROWN for the margin over IBP's hidden boxes, one backward pass in all; the
  cheap middle ground for deep networks, identical to CROWN on one hidden layer.

Three refinements, each sound, make the reported bound never looser than the simpler ones:

- neither IBP nor CROWN dominates the other neuron by neuron (CROWN's lower slope 1 goes below
  ReLU's interval bound 0), so every hidden bound and the margin take the better of the two;
- the margin also takes the better of the adaptive lower slope and the parallel one
  ``u / (u - l)`` (the slope of DeepZ, Singh et al. 2018, and Fast-Lin): on one hidden layer
  the parallel-slope bound equals the zonotope bound of ART's ``PytorchDeepZ``, so a cell DeepZ
  certifies, CROWN certifies too;
- every bound is computed in float64, so rounding cannot certify a cell the float32 network does
  not keep.

Own code rather than ART's certifiers, which handle the same layers: ART's interval certifier
bounds logits, not margins (looser), and its DeepZ certifier loops over cells one at a time in
Python and clips inputs to ``[0, 1]`` (image pixels) unless given its own converter. Here all cells
of a batch are bounded together with a few tensor products on the model's device.

The box of a cell ``x`` at radius ``eps`` is ``[clip(x - eps), clip(x + eps)]`` per gene, with
``clip`` the optional data domain ``(low, high)``: exactly the cells an attack reaches with
``clip(x + delta)``, ``|delta| <= eps``, as scrobin's attacks clip, for cells inside the domain
(cells outside it are refused: PGD's clip-then-project moves them to points off that box).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from scrobin.attacks.gradient import as_tensors
from scrobin.attacks.specs import check_native_params
from scrobin.errors import ScrobinError
from scrobin.inference import model_device, predict_classes
from scrobin.validators import is_real

METHODS = ("ibp", "crown-ibp", "crown")
# Layers that are the identity in eval mode, in which every bound holds.
_PASS_THROUGH = (nn.Dropout, nn.Identity)
# Auto batches keep the largest backward tensor (cells x bounded units x inputs, float64) near 256 MB.
_BATCH_ELEMENTS = 2**25

Layers = list[tuple[torch.Tensor, torch.Tensor]]
Bounds = list[tuple[torch.Tensor, torch.Tensor]]


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The affine layers of a ReLU network, which alternates Linear and ReLU and ends on Linear.

    Parameters
    ----------
    model
        scrobin's :class:`~scrobin.model.network.MLPClassifier` (a module whose one child is the
        ``nn.Sequential`` ``layers`` its forward applies), or an ``nn.Sequential`` (nested ones
        are flattened) of ``Linear`` and ``ReLU`` layers. Dropout and Identity are skipped,
        as in eval mode: bounds are those of the eval-mode network, the one that predicts.

    Returns
    -------
    The ``nn.Linear`` modules in order (not copies: their weights carry gradients for training).

    Raises
    ------
    ScrobinError
        For any other module or layer, or a layer order that is not Linear (ReLU Linear)*.
    """
    body = getattr(model, "layers", model)
    # A wrapper is bounded as its ``layers`` only when they are all it holds, as in MLPClassifier.
    if not isinstance(body, nn.Sequential) or (body is not model and list(model.children()) != [body]):
        raise ScrobinError(
            f"cannot bound a {type(model).__name__}: pass an MLPClassifier or an nn.Sequential of Linear and ReLU layers"
        )
    kept = [m for m in _flattened(body) if not isinstance(m, _PASS_THROUGH)]
    for index, module in enumerate(kept):
        if not isinstance(module, (nn.Linear, nn.ReLU)):
            raise ScrobinError(
                f"layer {index} ({type(module).__name__}) cannot be bounded: bound propagation handles Linear and ReLU "
                "(Dropout and Identity are skipped); use an MLPClassifier or replace the layer by ReLU"
            )
        expected = nn.Linear if index % 2 == 0 else nn.ReLU
        if not isinstance(module, expected):
            raise ScrobinError(
                f"layer {index} is {type(module).__name__} where {expected.__name__} was expected: "
                "bound a network that alternates Linear and ReLU layers, starting and ending with Linear"
            )
    if not kept or len(kept) % 2 == 0:
        raise ScrobinError("the network does not end with a Linear layer: bound a network whose last layer gives the logits")
    return kept[::2]


def _flattened(sequential: nn.Sequential) -> list[nn.Module]:
    modules = []
    for module in sequential:
        modules.extend(_flattened(module) if isinstance(module, nn.Sequential) else [module])
    return modules


def input_box(x: torch.Tensor, eps: float | torch.Tensor, clip: Sequence[float] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower and upper corner (cells x genes) of the L-inf box of radius ``eps`` around each cell.

    ``eps`` is a number or one radius per cell (a tensor of shape (cells,)), in scaled-expression
    units. With ``clip = (low, high)`` both corners are clamped to the data domain, giving exactly
    the cells reachable as ``clip(x + delta)``; a cell outside the domain then has a box on its edge.
    """
    radius = eps.reshape(-1, 1).to(x) if isinstance(eps, torch.Tensor) else eps
    lower, upper = x - radius, x + radius
    if clip is not None:
        lower, upper = lower.clamp(float(clip[0]), float(clip[1])), upper.clamp(float(clip[0]), float(clip[1]))
    return lower, upper


def _weights(model: nn.Module, dtype: torch.dtype | None = None, detach: bool = True) -> Layers:
    """(weight, bias) per affine layer, as ``dtype`` (no copy when None), detached unless training."""
    pairs = []
    for layer in linear_layers(model):
        bias = layer.bias if layer.bias is not None else torch.zeros(layer.out_features, device=layer.weight.device)
        weight = layer.weight.detach() if detach else layer.weight
        bias = bias.detach() if detach else bias
        pairs.append((weight if dtype is None else weight.to(dtype), bias if dtype is None else bias.to(dtype)))
    return pairs


def _affine_box(weight: torch.Tensor, bias: torch.Tensor, low: torch.Tensor, high: torch.Tensor):
    """Exact box of the affine image of a box, in centre-radius form (``W c + b -+ |W| r``), which
    rounds less than multiplying corners."""
    centre, radius = (high + low) / 2 @ weight.T + bias, (high - low) / 2 @ weight.abs().T
    return centre - radius, centre + radius


def _interval_hidden(layers: Layers, low: torch.Tensor, high: torch.Tensor, first: int = 0) -> Bounds:
    """IBP boxes of the hidden pre-activations from layer ``first`` on (cells x units each), given
    the box of that layer's input."""
    bounds = []
    for weight, bias in layers[first:-1]:
        low, high = _affine_box(weight, bias, low, high)
        bounds.append((low, high))
        low, high = low.clamp(min=0), high.clamp(min=0)
    return bounds


def _last_hidden_box(lower: torch.Tensor, upper: torch.Tensor, hidden: Bounds) -> tuple[torch.Tensor, torch.Tensor]:
    """Box of the last layer's input: the last hidden layer after ReLU, or the input box itself."""
    if not hidden:
        return lower, upper
    return hidden[-1][0].clamp(min=0), hidden[-1][1].clamp(min=0)


def _margin_rows(layers: Layers, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The last layer as margins ``z_y - z_j``: weights (cells x classes x units) and biases
    (cells x classes); the row of ``j = y`` is zero."""
    weight, bias = layers[-1]
    return weight[labels][:, None, :] - weight[None], bias[labels][:, None] - bias[None]


def _interval_margin(layers: Layers, lower: torch.Tensor, upper: torch.Tensor, labels: torch.Tensor,
                     hidden: Bounds) -> torch.Tensor:
    """IBP lower bound of ``z_y - z_j`` (cells x classes): one row difference per class, propagated
    from the last hidden layer's box."""
    low, high = _last_hidden_box(lower, upper, hidden)
    rows, offsets = _margin_rows(layers, labels)
    return _concretised(rows, offsets, low, high)


def _concretised(coefficients: torch.Tensor, constant: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Minimum of ``coefficients @ v + constant`` (cells x rows) over the box ``low <= v <= high``."""
    centre, radius = ((high + low) / 2)[..., None], ((high - low) / 2)[..., None]
    return (coefficients @ centre).squeeze(-1) - (coefficients.abs() @ radius).squeeze(-1) + constant


def _relaxation(low: torch.Tensor, high: torch.Tensor, parallel: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linear bounds ``lower_slope * z <= relu(z) <= upper_slope * z + upper_offset`` on ``[low, high]``.

    Stable units are exact (slopes 1 or 0); a unit crossing 0 gets the chord above and, below,
    slope ``high / (high - low)`` when ``parallel``, else 1 or 0, whichever side of 0 the interval
    reaches further into (CROWN-Ada).
    """
    active, crossing = (low >= 0).to(low.dtype), (low < 0) & (high > 0)
    chord = torch.where(crossing, high / torch.where(crossing, high - low, 1.0), active)
    adaptive = torch.where(crossing, (high >= -low).to(low.dtype), active)
    return chord if parallel else adaptive, chord, torch.where(crossing, -chord * low, 0.0)


def _backward_lower(layers: Layers, depth: int, spec: torch.Tensor, offsets: torch.Tensor, hidden: Bounds,
                    lower: torch.Tensor, upper: torch.Tensor, parallel: bool) -> torch.Tensor:
    """CROWN lower bound (cells x rows) of ``spec @ relu(z_{depth-1}) + offsets`` over the input box.

    ``spec`` is cells x rows x units of hidden layer ``depth - 1``; going back through each hidden
    layer, a positive coefficient takes the ReLU's lower line and a negative one its upper line.
    """
    coefficients, constant = spec, offsets
    for index in range(depth - 1, -1, -1):
        lower_slope, upper_slope, upper_offset = _relaxation(*hidden[index], parallel)
        positive, negative = coefficients.clamp(min=0), coefficients.clamp(max=0)
        constant = constant + (negative @ upper_offset[..., None]).squeeze(-1)
        coefficients = positive * lower_slope[:, None, :] + negative * upper_slope[:, None, :]
        weight, bias = layers[index]
        constant = constant + coefficients @ bias
        coefficients = coefficients @ weight
    return _concretised(coefficients, constant, lower, upper)


def _crown_hidden(layers: Layers, lower: torch.Tensor, upper: torch.Tensor) -> Bounds:
    """Hidden pre-activation boxes: IBP's, tightened layer by layer by CROWN (both are sound, so
    their intersection is). The first layer's IBP box is already exact."""
    hidden = _interval_hidden(layers, lower, upper)
    for depth in range(1, len(hidden)):
        weight, bias = layers[depth]
        rows, offsets = weight.expand(len(lower), *weight.shape), bias.expand(len(lower), -1)
        below = _backward_lower(layers, depth, rows, offsets, hidden, lower, upper, parallel=False)
        above = -_backward_lower(layers, depth, -rows, -offsets, hidden, lower, upper, parallel=False)
        low, high = torch.maximum(hidden[depth][0], below), torch.minimum(hidden[depth][1], above)
        # The IBP boxes above this layer were built from its looser box: rebuild them from this one.
        hidden[depth:] = [(low, high), *_interval_hidden(layers, low.clamp(min=0), high.clamp(min=0), depth + 1)]
    return hidden


def _margin_lower(layers: Layers, x: torch.Tensor, labels: torch.Tensor, eps, clip, method: str) -> torch.Tensor:
    """Lower bound of ``z_y - z_j`` (cells x classes): IBP's, or the best of IBP and CROWN with
    both lower slopes over IBP's (crown-ibp) or CROWN's (crown) hidden boxes."""
    lower, upper = input_box(x, eps, clip)
    hidden = (_crown_hidden if method == "crown" else _interval_hidden)(layers, lower, upper)
    bound = _interval_margin(layers, lower, upper, labels, hidden)
    if method != "ibp" and hidden:
        rows, offsets = _margin_rows(layers, labels)
        for parallel in (False, True):
            bound = torch.maximum(bound, _backward_lower(layers, len(hidden), rows, offsets, hidden, lower, upper, parallel))
    return bound


def margin_bounds(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    eps: float | np.ndarray,
    method: str = "crown",
    clip: Sequence[float] | None = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """Lower bounds of the logit margins ``z_y - z_j`` over each cell's L-inf box.

    Parameters
    ----------
    model
        ReLU network (see :func:`linear_layers`), on any device; its mode is left as it was.
    x
        Model input, cells x genes (scaled expression).
    y
        Class index per cell whose margins are bounded (the true label to certify).
    eps
        Box radius in scaled-expression units: a number >= 0 or one per cell (shape (cells,)).
    method
        ``"crown"`` (tightest, default), ``"crown-ibp"`` (CROWN over IBP's hidden boxes: the
        same on one hidden layer, far cheaper on deep networks) or ``"ibp"`` (cheapest); see the
        module docstring.
    clip
        Optional data domain ``(low, high)`` intersected with the box, as the attacks clip; every
        cell must lie inside it.
    batch_size
        Cells bounded at once; None sizes batches to keep the largest tensor near 256 MB.

    Returns
    -------
    float64 array, cells x classes: a lower bound of ``z_y - z_j`` for every ``x'`` in the box
    (column ``y`` is 0). All of a cell's other columns > 0 proves its prediction is ``y`` there.

    Raises
    ------
    ScrobinError
        For an unsupported network, a method other than ibp, crown-ibp or crown, a negative or non-finite
        eps, a bad clip or cells outside it, or inputs that do not match the network.
    """
    layers, inputs, labels, radii = _checked(model, x, y, eps, method, clip)
    size = batch_size or _auto_batch_size(layers, method)
    bounds = []
    with torch.no_grad():
        for start in range(0, len(inputs), size):
            rows = slice(start, start + size)
            eps_rows = radii if not isinstance(radii, torch.Tensor) else radii[rows]
            bounds.append(_margin_lower(layers, inputs[rows], labels[rows], eps_rows, clip, method).cpu())
    n_classes = layers[-1][0].shape[0]
    return torch.cat(bounds).numpy() if bounds else np.zeros((0, n_classes))


def certified(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    eps: float | np.ndarray,
    method: str = "crown",
    clip: Sequence[float] | None = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """Whether each cell's prediction is provably ``y`` everywhere in its L-inf box.

    Sound, not complete: True is a proof (no attack of radius ``eps`` can change the call); False
    means the bound could not prove it. A cell the model misclassifies is never certified. The
    share of True is the certified robust accuracy, a lower bound of the true robust accuracy that
    every attack's accuracy bounds from above. Parameters as :func:`margin_bounds`.

    Returns
    -------
    bool array, one per cell.
    """
    labels = _labels(y)
    return _proven(margin_bounds(model, x, y, eps, method, clip, batch_size), labels, predict_classes(model, x) == labels)


def _labels(y: np.ndarray | torch.Tensor) -> np.ndarray:
    return np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)


def _proven(bounds: np.ndarray, labels: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Cells the float32 network calls right (``correct``: it decides the call, and the float64
    bound alone could pass a cell it misclassifies) whose margins to every other class have a
    positive lower bound."""
    others = np.ones_like(bounds, dtype=bool)
    others[np.arange(len(bounds)), labels] = False
    return (np.where(others, bounds, np.inf) > 0).all(axis=1) & correct


def certified_radius(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    eps_max: float,
    method: str = "crown",
    tolerance: float = 1e-3,
    clip: Sequence[float] | None = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """Largest certified L-inf radius of each cell, by bisection over all cells at once.

    Each step certifies every cell at its own midpoint; a cell keeps the largest radius proven so
    far, so the returned radius is always certified (:func:`certified` is True there). IBP's
    verdict only weakens as the box grows (interval arithmetic is inclusion-monotone), so for IBP
    the true IBP radius lies in ``[radius, radius + tolerance)``; CROWN's adaptive slopes can make
    its verdict non-monotone in eps, so a CROWN radius is a proven radius that bisection found,
    within ``tolerance`` of a radius CROWN fails to prove. By soundness the prediction is constant
    for every radius below the returned one, whatever the method.

    Parameters
    ----------
    eps_max
        Largest radius tried (scaled-expression units); cells certified there get ``eps_max``.
    tolerance
        Width of the final bisection interval, in the same units; the number of steps is
        ``ceil(log2(eps_max / tolerance))``.
    model, x, y, method, clip, batch_size
        As :func:`margin_bounds`.

    Returns
    -------
    float64 array, one radius per cell; 0 for misclassified cells and for cells certified at no
    radius tried.
    """
    if not (is_real(eps_max) and 0 < eps_max < math.inf):
        raise ScrobinError(f"eps_max {eps_max!r} is invalid: use a positive finite radius")
    if not (is_real(tolerance) and 0 < tolerance < math.inf):
        raise ScrobinError(f"tolerance {tolerance!r} is invalid: use a positive radius, e.g. 1e-3")
    n_cells = len(x)
    proven = np.zeros(n_cells)
    failed = np.full(n_cells, float(eps_max))
    labels = _labels(y)
    correct = predict_classes(model, x) == labels  # the calls do not depend on eps: predicted once for every step

    def certified_at(eps):
        return _proven(margin_bounds(model, x, y, eps, method, clip, batch_size), labels, correct)

    at_max = certified_at(float(eps_max))
    proven[at_max] = eps_max
    for _ in range(max(0, math.ceil(math.log2(eps_max / tolerance)))):
        middle = (proven + failed) / 2
        holds = certified_at(middle) & ~at_max
        proven = np.where(holds, middle, proven)
        failed = np.where(holds | at_max, failed, middle)
    return proven


def interval_logits(
    model: nn.Module, x: np.ndarray | torch.Tensor, eps: float | np.ndarray, clip: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """IBP lower and upper bounds of every logit (each cells x classes, float64) over the box.

    The plain interval bounds that ART's ``PyTorchIBPClassifier.predict_intervals`` computes; a
    margin bounded from these (``lower_y - upper_j``) is looser than :func:`margin_bounds`'s.
    """
    n_cells = len(x)
    layers, inputs, _, radii = _checked(model, x, np.zeros(n_cells, dtype=np.int64), eps, "ibp", clip)
    with torch.no_grad():
        lower, upper = input_box(inputs, radii, clip)
        low, high = _affine_box(*layers[-1], *_last_hidden_box(lower, upper, _interval_hidden(layers, lower, upper)))
    return low.cpu().numpy(), high.cpu().numpy()


def worst_case_logits(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, clip: Sequence[float] | None = None
) -> torch.Tensor:
    """IBP worst-case logits for certified training (Gowal et al. 2018), differentiable in the weights.

    Column ``j`` is minus the IBP lower bound of ``z_y - z_j`` (column ``y`` is 0), so
    ``cross_entropy(worst_case_logits, y)`` bounds the cross-entropy of every cell in the box from
    above: the margins enter the loss directly, which is tighter than Gowal et al.'s lower bound of
    ``z_y`` next to upper bounds of the others.

    Parameters
    ----------
    model
        ReLU network (see :func:`linear_layers`); dropout is ignored (the eval-mode network).
    x
        Float tensor, cells x genes, on the model's device (a training batch).
    y
        Class index per cell (long tensor).
    eps
        Box radius (scaled-expression units), a number >= 0.
    clip
        Optional data domain ``(low, high)``.

    Returns
    -------
    Tensor of the model's dtype, cells x classes, with a graph to the model's weights.
    """
    if not (is_real(eps) and 0 <= eps < math.inf):
        raise ScrobinError(f"eps {eps!r} is invalid: use a finite radius >= 0")
    layers = _weights(model, detach=False)
    lower, upper = input_box(x, float(eps), clip)
    return -_interval_margin(layers, lower, upper, y, _interval_hidden(layers, lower, upper))


def _checked(model, x, y, eps, method, clip):
    """Validate everything at the boundary; return float64 weights and inputs on the model's device."""
    if method not in METHODS:
        raise ScrobinError(f"bound method {method!r} is unknown: use one of {', '.join(METHODS)}")
    check_native_params({"clip": clip})
    device = model_device(model)
    layers = _weights(model, torch.float64)
    inputs, labels = as_tensors(x, y, device)
    n_genes, n_classes = layers[0][0].shape[1], layers[-1][0].shape[0]
    if inputs.shape[1] != n_genes:
        raise ScrobinError(f"cells have {inputs.shape[1]} genes but the network takes {n_genes}: pass the model's input")
    if clip is not None:
        outside = int(((inputs < clip[0]) | (inputs > clip[1])).any(dim=1).sum())
        if outside:
            # Outside the domain the attacks' clip-then-project reaches points off the clipped box.
            raise ScrobinError(
                f"{outside} cells lie outside clip [{clip[0]}, {clip[1]}]: clip the cells to the data domain or widen clip"
            )
    if len(labels) and int(labels.max()) >= n_classes:
        raise ScrobinError(f"label {int(labels.max())} is not a class of this {n_classes}-class network: pass class indices 0..{n_classes - 1}")
    return layers, inputs.to(torch.float64), labels, _radii(eps, len(inputs), device)


def _radii(eps, n_cells: int, device: torch.device) -> float | torch.Tensor:
    if is_real(eps):
        values = np.array([float(eps)])
    else:
        values = np.asarray(eps, dtype=np.float64) if not isinstance(eps, torch.Tensor) else eps.detach().cpu().numpy()
        if values.shape != (n_cells,):
            raise ScrobinError(f"eps has shape {values.shape} for {n_cells} cells: pass one radius or one per cell")
    if not (np.isfinite(values).all() and (values >= 0).all()):
        raise ScrobinError(f"eps must be finite and >= 0, got {values.min() if values.size else eps!r}: pass a radius >= 0")
    return float(values[0]) if is_real(eps) else torch.as_tensor(values, device=device)


def _auto_batch_size(layers: Layers, method: str) -> int:
    widths = [weight.shape[0] for weight, _ in layers]
    n_genes = layers[0][0].shape[1]
    rows = max(widths[1:]) if method == "crown" and len(layers) > 1 else widths[-1]
    return max(1, _BATCH_ELEMENTS // (rows * max([n_genes, *widths])))
