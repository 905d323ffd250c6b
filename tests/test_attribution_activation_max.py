"""Activation maximization: ascent raises each class's score, one vector per class."""

import numpy as np
import torch

from scrobin.attribution import compute_attributions
from scrobin.model.network import MLPClassifier

N_GENES, N_CLASSES = 8, 3


def _class_scores(model, inputs):
    with torch.no_grad():
        return model.eval()(torch.as_tensor(inputs, dtype=torch.float32)).numpy()


def test_ascent_raises_each_class_score_and_is_shared_within_a_class():
    torch.manual_seed(0)
    model = MLPClassifier(N_GENES, N_CLASSES, hidden_sizes=(16, 8))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, N_GENES)).astype(np.float32)
    target = np.array([2, 0, 2, 1, 0, 2])
    background = rng.normal(size=(20, N_GENES)).astype(np.float32)
    attributions, _ = compute_attributions(
        model,
        x,
        target,
        "activation_maximization",
        {"steps": 100, "lr": 0.05},
        {"baseline": "train_mean"},
        background=background,
        device="cpu",
    )
    reference = background.mean(0, keepdims=True)
    for cell, class_index in enumerate(target):
        same_class = target == class_index
        shared = np.tile(attributions[cell], (same_class.sum(), 1))
        np.testing.assert_array_equal(attributions[same_class], shared)
        before = _class_scores(model, reference)[0, class_index]
        after = _class_scores(model, reference + attributions[cell])[0, class_index]
        penalty = 0.01 * np.sum(attributions[cell] ** 2)
        assert after - penalty > before + 0.01


def test_l2_penalty_keeps_the_optimum_near_the_baseline():
    torch.manual_seed(0)
    model = MLPClassifier(N_GENES, N_CLASSES, hidden_sizes=(16, 8))
    x = np.zeros((3, N_GENES), dtype=np.float32)
    target = np.arange(3)

    def distance(l2):
        attributions, _ = compute_attributions(
            model, x, target, "activation_maximization", {"steps": 100, "l2": l2}, device="cpu"
        )
        return np.linalg.norm(attributions, axis=1)

    assert (distance(1.0) < distance(0.01)).all()
