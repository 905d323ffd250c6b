"""The classifier figures: confusion matrix and training curves."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402

from scrobin.figures import save_figure  # noqa: E402


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str], path, title: str) -> None:
    """Row-normalised confusion matrix (recall per true type), counts written in the cells."""
    counts = confusion_matrix(y_true, y_pred, labels=np.arange(len(classes)))
    fractions = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.5 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    for i, j in np.ndindex(counts.shape):
        ax.text(j, i, counts[i, j], ha="center", va="center", fontsize=7, color="white" if fractions[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="fraction of true type")
    fig.tight_layout()
    save_figure(fig, path, dpi=120, tight=False)
    plt.close(fig)


def plot_training_curves(history: pd.DataFrame, path, title: str, best_epoch: int | None = None) -> None:
    """Loss and accuracy per epoch for training and (when present) validation cells."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, quantity in zip(axes, ("loss", "accuracy")):
        for split in ("train", "validation"):
            column = f"{split}_{quantity}"
            if column in history:
                ax.plot(history["epoch"], history[column], label=split)
        if best_epoch:
            ax.axvline(best_epoch, color="grey", linestyle=":", label="kept weights")
        ax.set_xlabel("epoch")
        ax.set_ylabel(quantity)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=120, tight=False)
    plt.close(fig)
