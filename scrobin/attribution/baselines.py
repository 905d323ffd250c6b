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
    background,
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
        Training cells x genes, an array or rows read on demand (``ModelInput``); needed by
        ``train_mean`` and ``train_sample``.
    generator
        Source of the sample, so the background is fixed by the run's seed.
    """
    if kind == "zeros":
        return np.zeros((1, n_genes), dtype=np.float32)
    if background is None:
        raise ScrobinError(
            f"baseline '{kind}' needs the training cells: pass background (training cells x genes)"
        )
    if not hasattr(background, "shape"):
        background = np.asarray(background)
    if len(background.shape) != 2 or background.shape[1] != n_genes or background.shape[0] == 0:
        raise ScrobinError(
            f"background has shape {background.shape} but the cells have {n_genes} genes: "
            "pass training cells x the same genes"
        )
    n_cells = background.shape[0]
    if kind == "train_mean":
        total = sum(_checked(block).sum(axis=0, dtype=np.float64) for block in _row_batches(background))
        return (total / n_cells)[None, :].astype(np.float32)
    n_rows = min(n_baseline_samples, n_cells)
    chosen = generator.choice(n_cells, size=n_rows, replace=False)
    return np.ascontiguousarray(_checked(background[chosen]), dtype=np.float32)


def _row_batches(background, batch_cells: int = 20_000):
    """The background whole when it is an array, else in batches of cells: a prepared dataset's
    training cells (``scrobin.data.model_input.ModelInput``) are scaled as read, never all at once."""
    if isinstance(background, np.ndarray):
        yield background
        return
    for start in range(0, background.shape[0], batch_cells):
        yield background[np.arange(start, min(start + batch_cells, background.shape[0]))]


def _checked(cells) -> np.ndarray:
    cells = np.asarray(cells)
    if not np.isfinite(cells).all():
        raise ScrobinError("background contains NaN or infinite values: pass the prepared training X")
    return cells
