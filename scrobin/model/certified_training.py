"""Certified (IBP) training: a batch loss that makes the network provably robust, not just hard to attack.

Gowal et al. 2018 ("On the effectiveness of interval bound propagation for training verifiably
robust models") train on a mix of the clean cross-entropy and the cross-entropy of the *worst-case
logits* that interval bound propagation gives over the eps box around each cell:

    loss = kappa * CE(z(x), y) + (1 - kappa) * CE(z_worst(x, eps), y)

Minimising the second term pushes up a lower bound of every margin ``z_y - z_j`` in the box, which
is what certification checks afterwards. Starting at full eps fails (the bounds of an untrained
network are vacuous and the loss only learns to shrink the weights), so eps grows linearly from 0
to its final value over ``ramp_epochs`` after ``warmup_epochs`` of clean training while kappa
falls from 1 to ``kappa_final`` (Gowal et al.: 0.5) over the same ramp.

:class:`IBPLoss` plugs into :func:`scrobin.model.training.train_classifier` as its
``certified_loss``, the way an ``adversary`` does for adversarial training; the worst-case logits
come from :func:`scrobin.attacks.bounds.worst_case_logits` (margin bounds, tighter than the paper's
logit bounds).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from scrobin.attacks.bounds import linear_layers, worst_case_logits
from scrobin.attacks.specs import check_native_params
from scrobin.errors import ScrobinError
from scrobin.validators import is_real


@dataclass(frozen=True)
class IBPLoss:
    """Gowal et al.'s IBP training loss with its linear eps and kappa ramp.

    Parameters
    ----------
    eps
        Final L-inf training radius in scaled-expression units (Gowal et al. train slightly above
        the radius they certify, e.g. 1.1 times).
    ramp_epochs
        Epochs over which eps grows from 0 to ``eps`` and kappa falls from 1 to ``kappa_final``.
    warmup_epochs
        Epochs of clean training (eps 0, kappa 1) before the ramp.
    kappa_final
        Weight of the clean cross-entropy once the ramp ends, in [0, 1].
    clip
        Optional data domain ``(low, high)`` of the boxes, as the attacks clip.

    Raises
    ------
    ScrobinError
        For a negative or non-finite value, a kappa outside [0, 1] or a bad clip.
    """

    eps: float
    ramp_epochs: float
    warmup_epochs: float = 0.0
    kappa_final: float = 0.5
    clip: Sequence[float] | None = None

    def __post_init__(self) -> None:
        check_native_params({"eps": self.eps, "clip": self.clip})
        for name in ("ramp_epochs", "warmup_epochs"):
            value = getattr(self, name)
            if not (is_real(value) and 0 <= value < math.inf):
                raise ScrobinError(f"IBP {name} {value!r} is invalid: use a number of epochs >= 0")
        if not (is_real(self.kappa_final) and 0 <= self.kappa_final <= 1):
            raise ScrobinError(f"IBP kappa_final {self.kappa_final!r} is invalid: use a weight in [0, 1], e.g. 0.5")

    @property
    def full_strength_epoch(self) -> float:
        """Training progress (epochs) at which eps and kappa reach their final values; early
        stopping must not keep weights from before it, which were trained for a smaller eps."""
        return self.warmup_epochs + self.ramp_epochs

    def schedule(self, progress: float) -> tuple[float, float]:
        """(eps, kappa) after ``progress`` epochs of training (fractional)."""
        if self.ramp_epochs == 0:
            share = float(progress >= self.warmup_epochs)
        else:
            share = min(max((progress - self.warmup_epochs) / self.ramp_epochs, 0.0), 1.0)
        return self.eps * share, 1.0 - (1.0 - self.kappa_final) * share

    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        progress: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch loss and the clean logits (cells x classes) at ``progress`` epochs.

        ``loss_fn`` is the training loop's cross-entropy (with its class weights), applied to the
        clean and to the worst-case logits alike.
        """
        # Refuses a network the bounds cannot handle at the first batch, not when the warm-up ends.
        linear_layers(model)
        eps, kappa = self.schedule(progress)
        logits = model(x)
        if kappa == 1.0:
            return loss_fn(logits, y), logits
        worst = worst_case_logits(model, x, y, eps, self.clip)
        return kappa * loss_fn(logits, y) + (1.0 - kappa) * loss_fn(worst, y), logits
