"""IBP certified training: its ramp, its loss, its place in the training loop, and that it pays off."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from scrobin.attacks.bounds import certified
from scrobin.errors import ScrobinError
from scrobin.model.certified_training import IBPLoss
from scrobin.model.network import MLPClassifier
from scrobin.model.training import TrainingSettings, train_classifier
from scrobin.model.config import SCHEMA as MODEL_SCHEMA
from scrobin.schema import section_defaults

N_TYPES, N_GENES = 4, 30
# At this radius a standard model keeps its calls but can hardly be certified.
EPS = 0.5


def separable_cells(n_cells: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(N_TYPES, N_GENES))
    labels = rng.integers(0, N_TYPES, n_cells)
    return (centres[labels] + rng.normal(size=(n_cells, N_GENES))).astype(np.float32), labels


def settings(max_epochs: int = 20, patience: int = 0) -> TrainingSettings:
    return TrainingSettings.from_config({
        **section_defaults(MODEL_SCHEMA, "train"), "batch_size": 50, "class_weighting": "none", "early_stopping_min_steps": 0,
        "max_epochs": max_epochs, "early_stopping_patience": patience, "learning_rate": 3e-3,
    })


def trained(certified_loss: IBPLoss | None, cells, labels, **kwargs) -> tuple[MLPClassifier, object]:
    torch.manual_seed(0)
    model = MLPClassifier(N_GENES, N_TYPES, (32,), {0: 0.0})
    history = train_classifier(model, cells, labels, kwargs.pop("settings", settings()), seed=0,
                               certified_loss=certified_loss, **kwargs)
    return model, history


def test_ibp_training_certifies_far_more_cells_and_keeps_its_calls():
    cells, labels = separable_cells()
    train, test = slice(0, 400), slice(400, None)
    standard, _ = trained(None, cells[train], labels[train])
    robust, _ = trained(IBPLoss(eps=1.1 * EPS, ramp_epochs=10, warmup_epochs=2), cells[train], labels[train])
    for model in (standard, robust):
        with torch.no_grad():
            assert (model(torch.from_numpy(cells[test])).argmax(1).numpy() == labels[test]).mean() >= 0.95
    standard_ibp = certified(standard, cells[test], labels[test], EPS, "ibp").mean()
    robust_ibp = certified(robust, cells[test], labels[test], EPS, "ibp").mean()
    standard_crown = certified(standard, cells[test], labels[test], EPS, "crown").mean()
    robust_crown = certified(robust, cells[test], labels[test], EPS, "crown").mean()
    assert standard_ibp < 0.2 and robust_ibp > 0.6
    assert robust_crown > standard_crown + 0.2


def test_eps_and_kappa_ramp_linearly_after_the_warmup():
    loss = IBPLoss(eps=0.4, ramp_epochs=4, warmup_epochs=2, kappa_final=0.5)
    assert loss.full_strength_epoch == 6
    assert loss.schedule(0) == (0.0, 1.0) and loss.schedule(2) == (0.0, 1.0)
    assert loss.schedule(3) == pytest.approx((0.1, 0.875))
    assert loss.schedule(6) == pytest.approx((0.4, 0.5)) and loss.schedule(60) == pytest.approx((0.4, 0.5))
    assert IBPLoss(eps=0.4, ramp_epochs=0, warmup_epochs=1).schedule(1) == (0.4, 0.5)


def test_the_loss_is_clean_cross_entropy_before_the_ramp_and_an_upper_bound_after():
    cells, labels = separable_cells(80)
    torch.manual_seed(0)
    model = MLPClassifier(N_GENES, N_TYPES, (16,), {0: 0.0}).eval()
    x, y = torch.from_numpy(cells), torch.from_numpy(labels)
    cross_entropy = nn.CrossEntropyLoss()
    loss = IBPLoss(eps=0.3, ramp_epochs=2, warmup_epochs=1)
    clean, logits = loss(model, x, y, cross_entropy, progress=0.5)
    assert torch.equal(logits, model(x)) and clean.item() == pytest.approx(cross_entropy(model(x), y).item())
    # Past the warm-up the worst case over the box can only cost more than the clean cells do.
    assert loss(model, x, y, cross_entropy, progress=2.0)[0].item() > clean.item()
    assert loss(model, x, y, cross_entropy, progress=3.0)[0].item() > loss(model, x, y, cross_entropy, progress=2.0)[0].item()


def test_early_stopping_keeps_no_weights_from_before_the_ramp_ends():
    cells, labels = separable_cells(300)
    ramp = IBPLoss(eps=0.6, ramp_epochs=6, warmup_epochs=1)
    _, history = trained(ramp, cells[:200], labels[:200], settings=settings(max_epochs=12, patience=3),
                         x_val=cells[200:], y_val=labels[200:])
    assert history.best_epoch >= ramp.full_strength_epoch
    # A run shorter than the ramp keeps its last epoch, never the untrained weights.
    _, short = trained(IBPLoss(eps=0.6, ramp_epochs=20), cells[:200], labels[:200], settings=settings(max_epochs=3, patience=3),
                       x_val=cells[200:], y_val=labels[200:])
    assert short.best_epoch == 3


def test_training_repeats_exactly_given_the_seed():
    cells, labels = separable_cells(200)
    loss = IBPLoss(eps=0.3, ramp_epochs=2)
    first, _ = trained(loss, cells, labels, settings=settings(max_epochs=3))
    again, _ = trained(loss, cells, labels, settings=settings(max_epochs=3))
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))


def test_bad_settings_and_unboundable_networks_are_refused():
    with pytest.raises(ScrobinError, match="kappa_final"):
        IBPLoss(eps=0.1, ramp_epochs=2, kappa_final=1.5)
    with pytest.raises(ScrobinError, match="ramp_epochs"):
        IBPLoss(eps=0.1, ramp_epochs=-1)
    with pytest.raises(ScrobinError, match="eps"):
        IBPLoss(eps=0.0, ramp_epochs=1)
    cells, labels = separable_cells(40)
    tanh = nn.Sequential(nn.Linear(N_GENES, 8), nn.Tanh(), nn.Linear(8, N_TYPES))
    with pytest.raises(ScrobinError, match="Tanh"):
        train_classifier(tanh, cells, labels, settings(max_epochs=1), seed=0,
                         certified_loss=IBPLoss(eps=0.1, ramp_epochs=1, warmup_epochs=5))
    with pytest.raises(ScrobinError, match="one training regime"):
        train_classifier(MLPClassifier(N_GENES, N_TYPES, (8,)), cells, labels, settings(max_epochs=1), seed=0,
                         adversary=lambda model, x, y: x, certified_loss=IBPLoss(eps=0.1, ramp_epochs=1))
