"""Running a trained classifier: the one eval-mode context and the one batched predictor.

Every stage that calls a model (training's evaluation, attacks, attribution, faithfulness,
stability) switches modes through :func:`eval_mode` and predicts through :func:`predict_logits`,
so dropout is always off and the caller's mode, device and gradient flags always come back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from scrobin.cells import dense_rows


def model_device(model: nn.Module) -> torch.device:
    """The device holding the model's parameters (CPU for a parameter-free module)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@contextmanager
def eval_mode(model: nn.Module, frozen: bool = False) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode and give back the mode and device it had before.

    Dropout must be off while predicting, attacking or explaining, or the output is that of a
    random sub-network; ART's estimators also switch modes (and may move the model) without
    restoring them. With ``frozen`` the weights also stop requiring gradients (attribution needs
    gradients with respect to the inputs only); their flags are restored on exit.
    """
    was_training = model.training
    device = model_device(model)
    grad_flags = [(parameter, parameter.requires_grad) for parameter in model.parameters()] if frozen else []
    model.eval()
    for parameter, _ in grad_flags:
        parameter.requires_grad_(False)
    try:
        yield model
    finally:
        for parameter, flag in grad_flags:
            parameter.requires_grad_(flag)
        model.to(device)
        model.train(was_training)


def predict_logits(model: nn.Module, matrix, batch_size: int = 4096) -> np.ndarray:
    """Logits (cells x classes, float32) of every row of a dense or sparse cells x genes matrix.

    Batched and densified one batch at a time, in eval mode, on the model's device.
    """
    device = model_device(model)
    outputs = []
    with eval_mode(model), torch.no_grad():
        for start in range(0, matrix.shape[0], batch_size):
            rows = np.arange(start, min(start + batch_size, matrix.shape[0]))
            cells = matrix[start:start + batch_size] if isinstance(matrix, torch.Tensor) else dense_rows(matrix, rows)
            outputs.append(model(torch.as_tensor(cells, dtype=torch.float32).to(device)).cpu().numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)


def predict_classes(model: nn.Module, matrix, batch_size: int = 4096) -> np.ndarray:
    """Predicted class index of every row (cells), the argmax of :func:`predict_logits`."""
    logits = predict_logits(model, matrix, batch_size)
    return logits.argmax(axis=1) if len(logits) else np.zeros(0, dtype=np.int64)
