"""Reference inputs that attributions are measured against.

Inputs are scaled and centred, so ``zeros`` is the average cell's expression (when the scaling was
fitted on the training cells, as scrobin's preprocessing does). ``train_mean`` is the exact
training-cell mean, for data that were not centred. ``train_sample`` is a seeded sample of
training cells: the background distribution that DeepSHAP, GradientSHAP and KernelSHAP average
over. Training cells, never test or adversarial cells, are the reference so that the standard and
the adversarially trained model are explained against the same distribution (the paper fitted
LIME for the adversarial model on adversarial data).
"""

from __future__ import annotations

import numpy as np

from scrobin.errors import ScrobinError

BASELINE_CHOICES = ("zeros", "train_mean", "train_sample")
# The baselines computed from the training cells (the ``background`` argument).
TRAINING_CELL_BASELINES = ("train_mean", "train_sample")


def baseline_rows(
    kind: str,
    n_baseline_samples: int,
    n_genes: int,
    background: np.ndarray | None,
    generator: np.random.Generator,
) -> np.ndarray:
    """Return the baseline as a float32 rows x genes array.

    Parameters
    ----------
    kind
        One of ``BASELINE_CHOICES``.
    n_baseline_samples
        Rows drawn without replacement for ``train_sample`` (all training cells if fewer).
    n_genes
        Gene count of the cells being explained; the background must match it.
    background
        Training cells x genes; needed by ``train_mean`` and ``train_sample``.
    generator
        Source of the sample, so the background is fixed by the run's seed.
    """
    if kind == "zeros":
        return np.zeros((1, n_genes), dtype=np.float32)
    if background is None:
        raise ScrobinError(
            f"baseline '{kind}' needs the training cells: pass background (training cells x genes)"
        )
    background = np.asarray(background)
    if background.ndim != 2 or background.shape[1] != n_genes or len(background) == 0:
        raise ScrobinError(
            f"background has shape {background.shape} but the cells have {n_genes} genes: "
            "pass training cells x the same genes"
        )
    if not np.isfinite(background).all():
        raise ScrobinError(
            "background contains NaN or infinite values: pass the prepared training X"
        )
    if kind == "train_mean":
        return background.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
    n_rows = min(n_baseline_samples, len(background))
    chosen = generator.choice(len(background), size=n_rows, replace=False)
    return np.ascontiguousarray(background[chosen], dtype=np.float32)
