"""The classifier network: the paper's MLP with every size configurable.

The module returns logits; softmax is applied where probabilities are needed (prediction,
attribution of class probability) so attacks and losses stay numerically stable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from scrobin.model.presets import PAPER_DROPOUT_AFTER, PAPER_HIDDEN_SIZES


class MLPClassifier(nn.Module):
    """Fully connected ReLU network mapping cells x genes to cells x class logits.

    Parameters
    ----------
    n_genes
        Number of input features (genes after preprocessing).
    n_classes
        Number of cell types.
    hidden_sizes
        Width of each hidden layer, default the paper's 500-250-100-80-60-40-20.
    dropout_after
        Mapping hidden-layer index -> dropout rate applied after that layer's ReLU.
    """

    def __init__(
        self,
        n_genes: int,
        n_classes: int,
        hidden_sizes: Sequence[int] = PAPER_HIDDEN_SIZES,
        dropout_after: Mapping[int, float] | None = None,
    ) -> None:
        super().__init__()
        dropout_after = dict(PAPER_DROPOUT_AFTER if dropout_after is None else dropout_after)
        self.architecture = {
            "n_genes": int(n_genes),
            "n_classes": int(n_classes),
            "hidden_sizes": [int(h) for h in hidden_sizes],
            "dropout_after": {int(k): float(v) for k, v in dropout_after.items()},
        }
        layers: list[nn.Module] = []
        width = n_genes
        for index, size in enumerate(hidden_sizes):
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout_after.get(index, 0.0) > 0:
                layers.append(nn.Dropout(dropout_after[index]))
            width = size
        layers.append(nn.Linear(width, n_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    @classmethod
    def from_architecture(cls, architecture: Mapping) -> "MLPClassifier":
        """Rebuild an untrained network from the ``architecture`` dict it recorded."""
        return cls(
            architecture["n_genes"],
            architecture["n_classes"],
            architecture["hidden_sizes"],
            {int(k): v for k, v in architecture["dropout_after"].items()},
        )
