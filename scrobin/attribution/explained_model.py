"""The view of the classifier that attribution methods see.

Attribution explains one scalar per cell: the target class's logit (default) or its softmax
probability. Logits are the default because softmax saturates on confidently classified cells
(gradients of a probability near 1 vanish) and because logit attributions of a linear layer are
exactly additive; ``probabilities`` reproduces the paper's Keras setup (a softmax output layer).
While attributing, the network is in eval mode (no dropout noise) and its weights do not require
gradients, so backward passes compute input gradients only (about half the work).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from scrobin.model.network import MLPClassifier


class ProbabilityOutput(nn.Module):
    """Wrap a logits network so that it returns class probabilities.

    ``nn.Softmax`` is a module rather than a function call so captum's DeepLIFT can apply its
    softmax rule to it.
    """

    def __init__(self, logits_model: nn.Module) -> None:
        super().__init__()
        self.logits_model = logits_model
        self.softmax = nn.Softmax(dim=1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.softmax(self.logits_model(inputs))


def with_output(model: nn.Module, output: str) -> nn.Module:
    """Return the network whose output is attributed: ``model`` itself or its softmax."""
    return ProbabilityOutput(model) if output == "probabilities" else model


def logits_model(model: nn.Module) -> nn.Module:
    """Return the logits network under an output wrapper.

    The cross-entropy loss is defined on logits whatever output is attributed; computing it from
    probabilities would underflow (log 0) for badly misclassified cells.
    """
    return model.logits_model if isinstance(model, ProbabilityOutput) else model


def input_layer_split(model: nn.Module) -> tuple[nn.Linear, Callable[[torch.Tensor], torch.Tensor]] | None:
    """(input layer, the rest) of a network that starts with a linear layer, else None.

    Computing that layer from its inputs' structure instead of full rows is what makes
    KernelSHAP, LIME (``scrobin.attribution.coalitions``) and the faithfulness curves cheap.
    Knows scrobin's classifier (``MLPClassifier``: a ``layers`` Sequential), a plain
    ``nn.Sequential``, and either under the softmax wrapper of ``output: probabilities``.
    """
    if isinstance(model, ProbabilityOutput):
        inner = input_layer_split(model.logits_model)
        if inner is None:
            return None
        first, rest = inner
        return first, lambda hidden: model.softmax(rest(hidden))
    layers = model.layers if type(model) is MLPClassifier else model
    if type(layers) is nn.Sequential and len(layers) > 0 and type(layers[0]) is nn.Linear:
        return layers[0], layers[1:]
    return None
