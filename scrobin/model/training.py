"""Mini-batch training of the classifier, standard or adversarial, with early stopping.

Batches are gathered row-wise from ``X`` (dense or sparse) and densified one at a time, so a
million-cell sparse matrix is never densified whole. An ``adversary`` callable turns a clean batch
into adversarial cells against the current weights (Madry-style training); a ``certified_loss``
replaces the batch loss by a bound-based one (certified training,
:class:`scrobin.model.certified_training.IBPLoss`); without either the training is standard.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch import nn

from scrobin.adam import Adam
from scrobin.cells import dense_rows
from scrobin.errors import ScrobinError

# An atlas epoch is thousands of batches: a progress line every this many.
PROGRESS_BATCHES = 500

Adversary = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


class CertifiedLoss(Protocol):
    """``loss(model, x, y, loss_fn, progress) -> (batch loss, clean logits)``, where ``progress``
    is the training done so far in epochs (fractional), for losses whose strength ramps up; weights
    from before ``full_strength_epoch`` are never kept as the best."""

    full_strength_epoch: float

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module, progress: float
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass
class TrainingSettings:
    """The ``train`` config section, plus the share of each batch that is adversarial.

    No defaults here: the config schema fills them (and the model presets choose ``batch_size``
    and ``class_weighting``); ``adversarial_fraction`` is 0 (clean batches) unless an adversarial
    regime sets it from ``adversarial_training``.
    """

    learning_rate: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    early_stopping_patience: int
    early_stopping_min_steps: int
    early_stopping_monitor: str
    early_stopping_min_delta: float
    class_weighting: str
    adversarial_fraction: float = 0.0

    @classmethod
    def from_config(cls, train: dict) -> "TrainingSettings":
        return cls(**train)

    def patience_epochs(self, steps_per_epoch: int) -> int:
        """Epochs without improvement before stopping: ``early_stopping_patience``, raised until the
        patience spans at least ``early_stopping_min_steps`` optimiser steps; 0 never stops.

        An epoch of a small dataset is one or two optimiser steps, so a patience counted in epochs
        alone can stop a model after a few updates, while its training loss still falls.
        """
        if not self.early_stopping_patience:
            return 0
        return max(self.early_stopping_patience, -(-self.early_stopping_min_steps // max(steps_per_epoch, 1)))


@dataclass
class TrainingHistory:
    """Per-epoch losses and accuracies; ``best_epoch`` is the one whose weights were kept;
    ``patience_epochs`` the early-stopping patience in effect (0: none)."""

    epochs: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    patience_epochs: int = 0
    seconds: float = 0.0


def batches(n_rows: int, batch_size: int, rng: np.random.Generator | None = None):
    """Row-index batches; shuffled when a generator is given."""
    order = rng.permutation(n_rows) if rng is not None else np.arange(n_rows)
    for start in range(0, n_rows, batch_size):
        yield order[start:start + batch_size]


def class_weights(labels: np.ndarray, n_classes: int, rule: str) -> torch.Tensor | None:
    """Inverse-frequency weights for ``balanced``, so rare types weigh as much as common ones."""
    if rule == "none":
        return None
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0)
    return torch.as_tensor(weights, dtype=torch.float32)


def _batch_loss(model, loss_fn, x, y, adversary, adversarial_fraction, certified_loss=None, progress=0.0):
    if certified_loss is not None:
        return certified_loss(model, loss_fn=loss_fn, x=x, y=y, progress=progress)
    if adversary is None:
        logits = model(x)
        return loss_fn(logits, y), logits
    x_adv = adversary(model, x, y)
    logits = model(torch.cat([x, x_adv]))
    clean_loss = loss_fn(logits[: len(x)], y)
    adversarial_loss = loss_fn(logits[len(x):], y)
    loss = (1 - adversarial_fraction) * clean_loss + adversarial_fraction * adversarial_loss
    return loss, logits[: len(x)]


def _evaluate(model, loss_fn, matrix, labels, batch_size, device, adversary, adversarial_fraction,
              certified_loss=None, progress=0.0):
    model.eval()
    total_loss, correct = 0.0, 0
    for rows in batches(matrix.shape[0], batch_size):
        x = torch.from_numpy(dense_rows(matrix, rows)).to(device)
        y = torch.from_numpy(labels[rows]).to(device)
        with torch.set_grad_enabled(adversary is not None):
            loss, logits = _batch_loss(model, loss_fn, x, y, adversary, adversarial_fraction, certified_loss, progress)
        total_loss += float(loss.detach()) * len(rows)
        correct += int((logits.argmax(1) == y).sum())
    return total_loss / matrix.shape[0], correct / matrix.shape[0]


def _monitored_score(loss: float, accuracy: float, monitor: str) -> tuple[float, float]:
    """Larger is better. Accuracy ties are broken by the lower loss, so the choice is stable.

    Monitoring accuracy keeps training while the classifier still improves its calls but grows
    overconfident on a few cells, which raises the validation loss long before accuracy peaks.
    """
    if monitor == "validation_loss":
        return (-loss, accuracy)
    return (round(accuracy, 6), -loss)


def _progressed(score: tuple[float, float], reference: tuple[float, float], monitor: str, min_delta: float) -> bool:
    """Whether ``score`` improves on ``reference`` enough to reset the patience.

    The loss (monitored, or breaking accuracy ties) must fall by more than ``min_delta`` of the
    reference's. Once a separable training set is classified perfectly, the validation loss keeps
    creeping down for as long as training runs (the logits only grow); that is not progress.
    """
    if monitor == "validation_loss":
        return -score[0] < -reference[0] * (1.0 - min_delta)
    return score[0] > reference[0] or (score[0] == reference[0] and -score[1] < -reference[1] * (1.0 - min_delta))


def train_classifier(
    model: nn.Module,
    x_train,
    y_train: np.ndarray,
    settings: TrainingSettings,
    seed: int,
    x_val=None,
    y_val: np.ndarray | None = None,
    adversary: Adversary | None = None,
    log: Callable[[str], None] = lambda message: None,
    certified_loss: CertifiedLoss | None = None,
) -> TrainingHistory:
    """Train ``model`` in place and return its history; the best validation epoch's weights are kept.

    Parameters
    ----------
    model
        Network mapping cells x genes to logits, already on its device.
    x_train, y_train
        Training cells (dense or sparse) and integer class codes.
    settings
        Optimisation settings (``train`` config section).
    seed
        Seeds the batch order, so runs repeat exactly on CPU.
    x_val, y_val
        Validation cells for early stopping; without them all ``max_epochs`` run.
    adversary
        ``adversary(model, x, y) -> x_adv`` crafted against the current weights every batch; the
        batch loss mixes clean and adversarial cells by ``settings.adversarial_fraction``.
    certified_loss
        Replaces the batch loss (training and validation) by ``certified_loss(model, x, y,
        loss_fn, progress)``; early stopping keeps no weights from before its
        ``full_strength_epoch`` (the last epoch's when training ends before it).

    Raises
    ------
    ScrobinError
        When both ``adversary`` and ``certified_loss`` are given.
    """
    if adversary is not None and certified_loss is not None:
        raise ScrobinError("train_classifier got an adversary and a certified_loss: pass one training regime")
    device = next(model.parameters()).device
    n_classes = model(torch.zeros(1, x_train.shape[1], device=device)).shape[1]
    weights = class_weights(y_train, n_classes, settings.class_weighting)
    loss_fn = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device))
    optimiser = Adam(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    rng = np.random.default_rng(seed)
    history = TrainingHistory()
    has_validation = x_val is not None and y_val is not None and len(y_val) > 0
    best_score, best_state, stale = (-np.inf, -np.inf), copy.deepcopy(model.state_dict()), 0
    reference_score = best_score
    n_batches = -(-x_train.shape[0] // settings.batch_size)
    patience = settings.patience_epochs(n_batches) if has_validation else 0
    history.patience_epochs = patience
    started = time.perf_counter()
    for epoch in range(1, settings.max_epochs + 1):
        model.train()
        seen, loss_sum, correct = 0, 0.0, 0
        for step, rows in enumerate(batches(x_train.shape[0], settings.batch_size, rng), start=1):
            if step % PROGRESS_BATCHES == 0:
                log(f"epoch {epoch}: batch {step}/{n_batches}")
            x = torch.from_numpy(dense_rows(x_train, rows)).to(device)
            y = torch.from_numpy(y_train[rows]).to(device)
            progress = epoch - 1 + (step - 1) / n_batches
            loss, logits = _batch_loss(
                model, loss_fn, x, y, adversary, settings.adversarial_fraction, certified_loss, progress
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            seen += len(rows)
            loss_sum += float(loss.detach()) * len(rows)
            correct += int((logits.detach().argmax(1) == y).sum())
        record = {"epoch": epoch, "train_loss": loss_sum / seen, "train_accuracy": correct / seen}
        if has_validation:
            val_loss, val_accuracy = _evaluate(
                model, loss_fn, x_val, y_val, settings.batch_size, device, adversary, settings.adversarial_fraction,
                certified_loss, float(epoch),
            )
            record.update(validation_loss=val_loss, validation_accuracy=val_accuracy)
            score = _monitored_score(val_loss, val_accuracy, settings.early_stopping_monitor)
            if certified_loss is not None and epoch < certified_loss.full_strength_epoch:
                # Weights trained for a smaller eps must not win on clean accuracy; until the ramp
                # ends the latest weights stand in, so a run shorter than the ramp keeps its last.
                best_state, history.best_epoch = copy.deepcopy(model.state_dict()), epoch
            else:
                if score > best_score:
                    best_score, best_state, history.best_epoch = score, copy.deepcopy(model.state_dict()), epoch
                if _progressed(score, reference_score, settings.early_stopping_monitor, settings.early_stopping_min_delta):
                    reference_score, stale = score, 0
                else:
                    stale += 1
        else:
            history.best_epoch = epoch
        history.epochs.append(record)
        log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        if patience and stale >= patience:
            break
    if has_validation:
        model.load_state_dict(best_state)
    model.eval()
    history.seconds = time.perf_counter() - started
    return history
