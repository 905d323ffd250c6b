"""Activation maximization: the input each class's score prefers, as gene importance.

No library ships it for tabular inputs. Starting from the baseline, gradient ascent (Adam, so one
learning rate suits logits and probabilities of any scale) maximises
``score_c(z) - l2 * |z - baseline|^2``; the penalty keeps the optimum near the data instead of
running off to extreme expression values. The importance of gene g for class c is the optimised
input minus the baseline: how far the class pulls the gene from the reference.

It is a per-class explanation: every cell whose target is class c receives class c's vector, so
the output keeps the cells x genes shape of the other methods. All classes present among the
targets are optimised together, one row each.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from scrobin.adam import Adam


def activation_maximization(
    model: nn.Module,
    x: np.ndarray,
    target: np.ndarray,
    *,
    baseline: np.ndarray,
    generator: np.random.Generator,
    device: torch.device,
    batch_size: int,
    steps: int = 200,
    lr: float = 0.1,
    l2: float = 0.01,
) -> np.ndarray:
    """Per-class optimised input minus baseline, one row per cell (by its target class).

    Parameters
    ----------
    steps, lr
        Adam iterations and step size of the ascent.
    l2
        Weight of the squared distance to the baseline in the objective.
    """
    classes, class_of_cell = np.unique(target, return_inverse=True)
    start = torch.as_tensor(baseline, device=device).expand(len(classes), -1)
    class_index = torch.as_tensor(classes, device=device)[:, None]
    optimised = start.clone().requires_grad_(True)
    optimiser = Adam([optimised], lr=lr)
    for _ in range(steps):
        optimiser.zero_grad()
        scores = model(optimised).gather(1, class_index).squeeze(1)
        penalty = l2 * ((optimised - start) ** 2).sum(dim=1)
        (penalty - scores).sum().backward()
        optimiser.step()
    per_class = (optimised - start).detach().cpu().numpy().astype(np.float32)
    return per_class[class_of_cell]
