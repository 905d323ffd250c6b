"""One entry point for every attack spec: a model and cells in, adversarial cells out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from scrobin.attacks.art import art_classifier, run_art_attack
from scrobin.attacks.gradient import as_tensors, fgsm, like_input, pgd
from scrobin.attacks.specs import validate_attack_spec
from scrobin.errors import ScrobinError
from scrobin.inference import eval_mode, model_device
from scrobin.runtime import resolve_device


def run_attack(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    name: str,
    params: Mapping[str, Any],
    backend: str = "native",
    device: str | torch.device | None = None,
) -> np.ndarray | torch.Tensor:
    """Craft untargeted adversarial cells with one named attack; the single entry point for specs.

    Parameters
    ----------
    model
        Logits module to attack (white-box: always attack the model that is evaluated).
    x, y
        Cells x genes input and true class indices.
    name, params, backend
        As in :func:`validate_attack_spec`; validated here before any work.
    device
        ``"auto"``, ``"cpu"``, ``"cuda"`` or a torch device to move the model to (in place) first;
        ``None`` keeps the model where it is.

    Returns
    -------
    Adversarial cells of the same kind as ``x``.
    """
    spec = validate_attack_spec({"name": name, "backend": backend, "params": params})
    params = spec["params"]
    if device is not None:
        model.to(device if isinstance(device, torch.device) else resolve_device(device))
    if backend == "native":
        if "eps" not in params:
            raise ScrobinError(f"attack {name} has no eps: add params.eps")
        attack = fgsm if name == "fgsm" else pgd
        return attack(model, x, y, **params)
    inputs, labels = as_tensors(x, y, torch.device("cpu"))
    with eval_mode(model), torch.no_grad():
        n_classes = model(inputs[:1].to(model_device(model))).shape[1]
    with eval_mode(model):
        estimator = art_classifier(model, inputs.shape[1], n_classes, params.get("clip"))
        adversarial = run_art_attack(estimator, inputs.numpy(), labels.numpy(), name, params)
    return like_input(torch.from_numpy(adversarial), x)
