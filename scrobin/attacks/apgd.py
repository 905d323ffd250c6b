"""AutoAttack's gradient attacks (APGD-CE and APGD-T with the DLR loss), batched over cells, and
the worst case over a list of attacks.

APGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks", ICML) is PGD without a step size to tune: it starts at ``2 eps``,
moves with momentum 0.75, and halves the step at checkpoints (after 22%, then 19%, 16%, ... down to
6% of the iterations) wherever the loss rose in at most 75% of the steps since the last
checkpoint, or the best loss did not improve and the step was not just halved; a halving restarts
from the best point. APGD-T attacks each of the ``n_target_classes`` classes with the highest clean
logits in turn, with the targeted DLR loss, which is invariant to shifting and scaling the logits
and so does not stall where cross-entropy saturates (a source of gradient masking).

Own code rather than ART 1.20's ``AutoProjectedGradientDescent``. Speed alone would not justify it:
at the default run's sizes ART is 2.5-8 times slower for APGD-CE and 5-12 times for APGD-T
(``benchmarks/bench_certification.py --compare-art``), not orders of magnitude, and leaves the same
accuracies there. Its departures from the paper do, for an attack whose job is the worst case: it
returns the last iterate of each restart instead of any misclassified point found on the way; its
targeted DLR descends the untargeted DLR of the target class (the paper's compares the true class
with the target and divides by the gap between the top logit and the mean of the third and
fourth); it initialises the best targeted loss with the untargeted comparison; and it attacks one
target class per call, so APGD-T needs a loop over targets outside it. Measured once on the test
suite's toy model (3 targets, eps 0.6), ART's APGD-T leaves 52% accuracy where this one leaves 50%.

Only the L-inf threat model is implemented, the one scrobin's certification covers; cells move in
the same box :func:`scrobin.attacks.bounds.input_box` bounds (clipped to the data domain when
``clip`` is given).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from scrobin.attacks.bounds import input_box
from scrobin.attacks.gradient import as_tensors, like_input
from scrobin.attacks.specs import check_native_params
from scrobin.errors import ScrobinError
from scrobin.inference import eval_mode, model_device, predict_classes
from scrobin.validators import is_integer

LOSSES = ("ce", "dlr")
# Croce & Hein 2020: momentum of the update and share of loss increases below which the step halves.
MOMENTUM = 0.75
RHO = 0.75
# Checkpoint spacing as shares of the iterations: the first interval, its decrease, its minimum.
FIRST_INTERVAL, INTERVAL_DECREASE, MIN_INTERVAL = 0.22, 0.03, 0.06
# Keeps DLR finite when the top logits tie (the paper's constant).
DLR_FLOOR = 1e-12

Attack = Callable[[nn.Module, np.ndarray, np.ndarray], np.ndarray]


def apgd(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    eps: float,
    loss: str = "ce",
    targeted: bool = False,
    n_target_classes: int = 9,
    iterations: int = 100,
    n_restarts: int = 1,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = 1024,
    clip: Sequence[float] | None = None,
) -> np.ndarray | torch.Tensor:
    """Auto-PGD under an L-inf budget: APGD-CE (default) or, with ``targeted``, APGD-T.

    Every run starts from a uniform draw in the box. Runs (``n_restarts``, times
    ``n_target_classes`` when targeted) attack only the cells no earlier run has misclassified,
    as AutoAttack does.

    Parameters
    ----------
    model
        Module mapping float32 cells x genes to class logits; run in eval mode, its mode and
        gradient flags restored afterwards.
    x
        Model input, cells x genes (numpy array or tensor on any device), scaled expression.
    y
        True class index per cell.
    eps
        L-inf radius in scaled-expression units.
    loss
        ``"ce"`` (cross-entropy) or ``"dlr"`` (difference of logits ratio; needs 3 classes, and
        targeted, the paper's targeted DLR over the first, third and fourth largest logits).
    targeted
        Push each cell towards each of its ``n_target_classes`` most likely other classes in turn
        (APGD-T), maximising the targeted loss; otherwise push it away from ``y`` (APGD-CE).
    n_target_classes
        Target classes per cell when targeted (AutoAttack: 9), at most classes - 1.
    iterations
        Gradient steps per run (AutoAttack: 100).
    n_restarts
        Random starts per attack (per target class when targeted); AutoAttack's standard
        version uses 1.
    seed, generator
        Randomness of the starts, as :func:`scrobin.attacks.gradient.pgd`: a given CPU
        ``generator`` is used and advanced, otherwise one seeded with ``seed`` (0 if None).
    batch_size
        Cells attacked at once.
    clip
        Optional data domain ``(low, high)``; the box is clipped to it.

    Returns
    -------
    Adversarial cells of the same kind as ``x``: per cell, the misclassified point of lowest
    margin ``z_y - max_{j != y} z_j`` found, else the point of lowest margin (the clean cell when
    no run lowered it; a cell misclassified clean is returned unchanged).

    Raises
    ------
    ScrobinError
        For a bad eps, loss, count or clip, or a DLR loss on too few classes.
    """
    check_native_params({"eps": eps, "iterations": iterations, "batch_size": batch_size, "seed": seed, "clip": clip})
    if loss not in LOSSES:
        raise ScrobinError(f"APGD loss {loss!r} is unknown: use one of {', '.join(LOSSES)}")
    for name, value in (("n_restarts", n_restarts), ("n_target_classes", n_target_classes)):
        if not (is_integer(value) and value >= 1):
            raise ScrobinError(f"APGD {name} {value!r} is invalid: use an integer >= 1")
    device = model_device(model)
    inputs, labels = as_tensors(x, y, device)
    if generator is None:
        generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
    with eval_mode(model, frozen=True):
        with torch.no_grad():
            logits = _logits_in_batches(model, inputs, batch_size)
        n_classes = logits.shape[1]
        if loss == "dlr" and n_classes < 3:
            raise ScrobinError(f"the DLR loss needs 3 or more classes, the model has {n_classes}: use loss ce")
        # AutoAttack's targets: the classes of highest clean logit after the top one (y where the cell is right).
        ranked = logits.argsort(dim=1, descending=True)[:, 1:1 + min(n_target_classes, n_classes - 1)]
        best, best_margin = inputs.clone(), _margin(logits, labels)
        runs = [(restart, rank) for rank in range(ranked.shape[1] if targeted else 1) for restart in range(n_restarts)]
        for _, rank in runs:
            open_cells = torch.nonzero(best_margin >= 0).flatten()
            for start in range(0, len(open_cells), batch_size):
                cells = open_cells[start:start + batch_size]
                targets = ranked[cells, rank] if targeted else None
                found, margin = _run(model, inputs[cells], labels[cells], targets, eps, loss, iterations, clip, generator)
                better = margin < best_margin[cells]
                best[cells[better]], best_margin[cells[better]] = found[better], margin[better]
    return like_input(best, x)


def _run(
    model: nn.Module,
    clean: torch.Tensor,
    labels: torch.Tensor,
    targets: torch.Tensor | None,
    eps: float,
    loss: str,
    iterations: int,
    clip: Sequence[float] | None,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One APGD run on a batch (Croce & Hein 2020, Algorithm 1, as their reference code schedules
    it): the lowest-margin point each cell visited and that margin."""
    lower, upper = input_box(clean, eps, clip)
    start = torch.rand(clean.shape, generator=generator).to(clean.device)
    current = lower + (upper - lower) * start
    step = torch.full((len(clean), 1), 2.0 * eps, device=clean.device)
    value, gradient, margin = _loss_and_gradient(model, current, labels, targets, loss)
    found, found_margin = current.clone(), margin
    best, best_value, best_gradient = current.clone(), value.clone(), gradient.clone()
    previous, previous_value = current.clone(), value
    checkpoints = dict(_checkpoints(iterations))
    increases = torch.zeros(len(clean), device=clean.device)
    # The reference code skips the stall test at the first checkpoint, as if the step had just halved.
    halved_last = torch.ones(len(clean), dtype=torch.bool, device=clean.device)
    best_at_last = best_value.clone()
    for iteration in range(1, iterations + 1):
        ascended = (current + step * gradient.sign()).clamp(lower, upper)
        weight = MOMENTUM if iteration > 1 else 1.0
        moved = (current + weight * (ascended - current) + (1 - weight) * (current - previous)).clamp(lower, upper)
        previous, current = current, moved
        value, gradient, margin = _loss_and_gradient(model, current, labels, targets, loss)
        increases += value > previous_value
        previous_value = value
        lower_margin = margin < found_margin
        found[lower_margin], found_margin = current[lower_margin], torch.minimum(margin, found_margin)
        improved = value > best_value
        best[improved], best_value[improved], best_gradient[improved] = current[improved], value[improved], gradient[improved]
        if iteration in checkpoints:
            oscillating = increases <= RHO * checkpoints[iteration]
            stalled = ~halved_last & (best_value <= best_at_last)
            halve = oscillating | stalled
            step[halve] /= 2
            current[halve], gradient[halve] = best[halve], best_gradient[halve]
            halved_last, best_at_last = halve, best_value.clone()
            increases.zero_()
    return found, found_margin


def _checkpoints(iterations: int) -> list[tuple[int, int]]:
    """(iteration, interval since the previous checkpoint) pairs, in the reference code's integers."""
    interval = max(int(FIRST_INTERVAL * iterations), 1)
    decrease, minimum = max(int(INTERVAL_DECREASE * iterations), 1), max(int(MIN_INTERVAL * iterations), 1)
    points, at = [], 0
    while at + interval <= iterations:
        at += interval
        points.append((at, interval))
        interval = max(interval - decrease, minimum)
    return points


def _loss_and_gradient(model, cells, labels, targets, loss):
    """Per-cell loss to maximise, its input gradient, and the margin ``z_y - max_{j != y} z_j``."""
    cells = cells.detach().requires_grad_(True)
    logits = model(cells)
    value = _loss(logits, labels, targets, loss)
    # Summed loss keeps each cell's gradient independent of its batch mates.
    (gradient,) = torch.autograd.grad(value.sum(), cells)
    return value.detach(), gradient, _margin(logits.detach(), labels)


def _loss(logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None, loss: str) -> torch.Tensor:
    """Croce & Hein's losses, per cell, to be maximised."""
    if loss == "ce":
        if targets is None:
            return F.cross_entropy(logits, labels, reduction="none")
        return -F.cross_entropy(logits, targets, reduction="none")
    ordered = logits.sort(dim=1, descending=True).values
    true = logits.gather(1, labels[:, None]).squeeze(1)
    if targets is None:
        return -(true - _best_other(logits, labels)) / (ordered[:, 0] - ordered[:, 2] + DLR_FLOOR)
    # With 3 classes there is no fourth logit: the third stands in for the mean of third and fourth.
    spread = ordered[:, 0] - ordered[:, 2:4].mean(dim=1)
    return -(true - logits.gather(1, targets[:, None]).squeeze(1)) / (spread + DLR_FLOOR)


def _best_other(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Largest logit other than the label's, per cell."""
    return logits.scatter(1, labels[:, None], -math.inf).max(dim=1).values


def _margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return logits.gather(1, labels[:, None]).squeeze(1) - _best_other(logits, labels)


def _logits_in_batches(model: nn.Module, inputs: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([model(inputs[start:start + batch_size]) for start in range(0, len(inputs), batch_size)])


def apgd_attacks(
    eps: float,
    iterations: int = 100,
    n_restarts: int = 1,
    n_target_classes: int = 9,
    seed: int = 0,
    batch_size: int = 1024,
    clip: Sequence[float] | None = None,
) -> dict[str, Attack]:
    """AutoAttack's two APGD attacks at one budget, by label, for :func:`broken_cells`.

    ``apgd_ce`` is untargeted APGD with cross-entropy, ``apgd_t`` targeted APGD with the targeted
    DLR loss; parameters as :func:`apgd` (defaults: AutoAttack's standard version).
    """
    shared = {"eps": eps, "iterations": iterations, "n_restarts": n_restarts, "seed": seed,
              "batch_size": batch_size, "clip": clip}
    return {
        "apgd_ce": partial(apgd, loss="ce", **shared),
        "apgd_t": partial(apgd, loss="dlr", targeted=True, n_target_classes=n_target_classes, **shared),
    }


def broken_cells(
    model: nn.Module, x: np.ndarray, y: np.ndarray, attacks: Mapping[str, Attack]
) -> pd.DataFrame:
    """Which cells each attack broke and whether any did: the worst case over the attacks.

    A cell is empirically robust only if it is classified correctly and every attack fails
    (AutoAttack's rule), so ``1 - table["any"].mean()`` is the strongest-attack robust accuracy,
    at most every single attack's ``1 - table[label].mean()``.

    Parameters
    ----------
    model
        Logits module.
    x, y
        Cells x genes (scaled expression) and their class indices.
    attacks
        Label -> ``attack(model, x, y)`` returning adversarial cells x genes, e.g.
        :func:`apgd_attacks` or ``functools.partial`` of :func:`scrobin.attacks.run.run_attack`.

    Returns
    -------
    One row per cell: ``clean`` (misclassified without attack), one column per attack label (its
    adversarial cell is misclassified) and ``any`` (any of these), all bool.
    """
    clashing = sorted({"clean", "any"} & set(attacks))
    if clashing:
        raise ScrobinError(f"attack labels {clashing} are reserved for the table: rename those attacks")
    labels = np.asarray(y)
    table = {"clean": predict_classes(model, x) != labels}
    for label, attack in attacks.items():
        table[label] = predict_classes(model, attack(model, x, y)) != labels
    table["any"] = np.logical_or.reduce(list(table.values()))
    return pd.DataFrame(table)
