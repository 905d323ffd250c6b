"""Native batched FGSM and PGD against a cell-type classifier, as ART computes them.

The native attacks exist because ART crafts one mini-batch of 32 cells at a time through numpy
round-trips, which makes attacking inside every training step (adversarial training) and eps sweeps
slow. They follow ART's conventions exactly, so that without a random start they produce the same
adversarial examples as ``FastGradientMethod`` / ``ProjectedGradientDescent`` on a
``PyTorchClassifier`` (the test suite checks this):

- the loss is cross-entropy on the logits of the *true* labels (untargeted attack);
- an L-inf step moves each gene by ``step_size * sign(gradient)``; an L2 step moves each cell by
  ``step_size * gradient / ||gradient||_2`` (a zero gradient gives a zero step);
- after every step the input is clipped (only when ``clip`` is given; scaled expression is
  unbounded) and the perturbation is projected back onto the eps ball (L-inf: clamp to
  ``[-eps, eps]``; L2: rescale to norm ``eps`` when longer);
- FGSM is one such step of size ``eps`` (ART ignores ``eps_step`` when ``minimal=False``);
- a random start draws a point uniformly from the eps ball. ART draws it from numpy's global
  generator and scrobin from a seeded torch generator, so with a random start the two agree in
  distribution, not draw for draw.

ART has no relative step-size default (its ``eps_step`` is a fixed 0.1); scrobin's PGD uses
``step_size = eps / 4`` when none is given, so a sweep over eps keeps the step in proportion and 10
iterations can cross the ball twice.

Attacks run the model in eval mode (no dropout noise in the gradient, as in ART) and restore the
caller's mode afterwards, so adversarial training can call them from inside its training loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scrobin.attacks.specs import canonical_norm, check_native_params
from scrobin.cells import dense
from scrobin.errors import ScrobinError
from scrobin.inference import eval_mode, model_device



def fgsm(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    eps: float,
    norm: str = "inf",
    random_start: bool = False,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = 1024,
    clip: Sequence[float] | None = None,
) -> np.ndarray | torch.Tensor:
    """Fast gradient (sign) method: one step of size ``eps`` up the loss gradient.

    Equivalent to :func:`pgd` with ``iterations=1`` and ``step_size=eps``, which is how ART's
    ``FastGradientMethod`` computes it; see :func:`pgd` for the parameters.
    """
    return pgd(
        model, x, y, eps, step_size=eps, iterations=1, norm=norm, random_start=random_start,
        seed=seed, generator=generator, batch_size=batch_size, clip=clip,
    )


def pgd(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    eps: float,
    step_size: float | None = None,
    iterations: int = 10,
    norm: str = "inf",
    random_start: bool = False,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = 1024,
    clip: Sequence[float] | None = None,
) -> np.ndarray | torch.Tensor:
    """Projected gradient descent (Madry et al.), untargeted, batched over cells.

    Parameters
    ----------
    model
        Module mapping float32 cells x genes to class logits; it stays on its device.
    x
        Model input, cells x genes (numpy array or tensor on any device).
    y
        True class index per cell.
    eps
        Radius of the perturbation ball in scaled-expression units.
    step_size
        Size of each step; ``None`` uses ``eps / 4`` (ART's ``eps_step``, which has no relative default).
    iterations
        Number of gradient steps (ART's ``max_iter``).
    norm
        ``"inf"`` (sign steps, box projection) or ``"2"`` (normalised steps, ball projection);
        ``2`` and ``np.inf`` are accepted too.
    random_start
        Start from a uniform draw in the eps ball instead of the clean cell (ART's ``num_random_init=1``).
    seed, generator
        Randomness of the start: a given ``generator`` is used (and advanced, so repeated calls in a
        training loop draw fresh starts; it must be a CPU generator); otherwise one seeded with
        ``seed`` (0 if ``None``). Draws happen on the CPU so results do not depend on the device.
    batch_size
        Cells crafted at once; without a random start results do not depend on it (the loss is
        summed per cell, so a cell's gradient ignores its batch mates).
    clip
        Optional ``(min, max)`` bounds of valid inputs; ``None`` leaves values unbounded.

    Returns
    -------
    Adversarial cells of the same kind as ``x`` (numpy float32, or a float32 tensor on ``x``'s device).
    """
    norm = canonical_norm(norm)
    check_native_params(
        {"eps": eps, "norm": norm, "step_size": step_size, "iterations": iterations,
         "random_start": random_start, "seed": seed, "batch_size": batch_size, "clip": clip}
    )
    step = eps / 4 if step_size is None else float(step_size)
    device = model_device(model)
    inputs, labels = as_tensors(x, y, device)
    if random_start and generator is None:
        generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
    crafted = []
    with eval_mode(model):
        for start in range(0, len(inputs), batch_size):
            clean = inputs[start:start + batch_size]
            noise = _uniform_in_ball(clean.shape, eps, norm, generator) if random_start else None
            crafted.append(
                _craft(model, clean, labels[start:start + batch_size], eps, step, iterations, norm, noise, clip)
            )
    adversarial = torch.cat(crafted) if crafted else inputs.clone()
    return like_input(adversarial, x)


def _craft(
    model: nn.Module,
    clean: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    step: float,
    iterations: int,
    norm: str,
    noise: torch.Tensor | None,
    clip: Sequence[float] | None,
) -> torch.Tensor:
    """All PGD iterations for one batch, in ART's order: step, clip, project."""
    adversarial = clean.clone() if noise is None else _clip(clean + noise.to(clean.device), clip)
    for _ in range(iterations):
        adversarial.requires_grad_(True)
        # Summed loss keeps each cell's gradient independent of the batch; autograd.grad w.r.t. the
        # input alone leaves the parameters' .grad untouched for the caller's optimiser.
        loss = F.cross_entropy(model(adversarial), labels, reduction="sum")
        (gradient,) = torch.autograd.grad(loss, adversarial)
        adversarial = _clip(adversarial.detach() + step * _ascent_direction(gradient, norm), clip)
        adversarial = clean + _project(adversarial - clean, eps, norm)
    return adversarial.detach()


def _ascent_direction(gradient: torch.Tensor, norm: str) -> torch.Tensor:
    """Unit-norm direction maximising the linearised loss: gradient sign (L-inf) or direction (L2)."""
    if norm == "inf":
        return gradient.sign()
    length = gradient.norm(dim=1, keepdim=True)
    return gradient / torch.where(length > 0, length, torch.inf)


def _project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Nearest point of the eps ball (exact for L-inf and L2)."""
    if norm == "inf":
        return delta.clamp(-eps, eps)
    length = delta.norm(dim=1, keepdim=True)
    return delta * torch.where(length > eps, eps / length, torch.ones_like(length))


def _clip(x: torch.Tensor, clip: Sequence[float] | None) -> torch.Tensor:
    return x if clip is None else x.clamp(float(clip[0]), float(clip[1]))


def _uniform_in_ball(shape: torch.Size, eps: float, norm: str, generator: torch.Generator) -> torch.Tensor:
    """Points drawn uniformly from the eps ball, one per cell, on the CPU."""
    if norm == "inf":
        return (torch.rand(shape, generator=generator) * 2 - 1) * eps
    direction = torch.randn(shape, generator=generator)
    direction = direction / direction.norm(dim=1, keepdim=True)
    radius = eps * torch.rand((shape[0], 1), generator=generator) ** (1.0 / shape[1])
    return direction * radius


def like_input(result: torch.Tensor, x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """``result`` (cells x genes) as the caller passed ``x``: a tensor on ``x``'s device, else a numpy array."""
    if isinstance(x, torch.Tensor):
        return result.to(x.device)
    return result.cpu().numpy()


def as_tensors(
    x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check cells x genes input and integer labels, and move both to the model's device."""
    inputs = x if isinstance(x, torch.Tensor) else dense(x)
    inputs = inputs.detach() if isinstance(inputs, torch.Tensor) else torch.from_numpy(inputs)
    # as_tensor copies read-only arrays (pandas' category codes are), which from_numpy warns about
    labels = y.detach() if isinstance(y, torch.Tensor) else torch.as_tensor(np.array(y))
    if inputs.ndim != 2:
        raise ScrobinError(f"attack input has shape {tuple(inputs.shape)}: pass a cells x genes matrix")
    if labels.shape != (inputs.shape[0],):
        raise ScrobinError(
            f"attack labels have shape {tuple(labels.shape)} for {inputs.shape[0]} cells: pass one class index per cell"
        )
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or (len(labels) and labels.min() < 0):
        raise ScrobinError("attack labels must be non-negative integer class indices: encode cell types as 0..K-1")
    return inputs.to(device=device, dtype=torch.float32), labels.to(device=device, dtype=torch.long)


