"""Exact L-inf robust accuracy of linear classifiers: the worst case in the box, in closed form.

A linear classifier on standardised input scores class k as ``z_k = W_k . s + b_k`` with
``s_g = min(clip_high, (x_g - mean_g) / scale_g)``: CellTypist (``clip_high`` 10, on log1p counts
per 10,000) and scrobin's logistic baseline (no clip, mean 0 and scale 1 on scrobin's scaled
input). The attacker moves each gene by at most ``eps_g`` and keeps it in the domain
``x_g >= domain_low``. For a cell of class y and another class j the margin
``z_y - z_j = sum_g D_g s_g(x_g) + b_y - b_j`` (``D = W_y - W_j``) is a sum of monotone functions
of single genes (the clip is monotone), so its minimum over the box is attained gene by gene at an
end of the gene's interval: the lower end where ``D_g > 0``, the upper end where ``D_g < 0``.
Without clip and domain this is the margin minus ``sum_g |D_g| eps_g / scale_g``. The cell is
robust iff every minimum margin is > 0 (or 0 against a later class: argmax keeps the first of
tied classes, as numpy, scikit-learn and CellTypist do). That is the exact robust accuracy: no
attack on the same model within the same box scores lower, and the minimising vertex is itself an
attack that reaches it.

Own code: ART and the native attacks (``scrobin.attacks``) search iteratively and give upper bounds;
the closed form is exact and costs two matrix products per true class. Cells are processed in
batches and classes in a loop; no loop runs over cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from scrobin.cells import dense, split_rows
from scrobin.contract import LABEL_KEY
from scrobin.errors import ScrobinError
from scrobin.model.celltypist_reference import celltypist_gene_sd, celltypist_linear_terms
from scrobin.robustness.table import TABLE_COLUMNS, accuracy_with_interval
from scrobin.validators import require_positive_int

# How the exact rows name themselves in a sweep table (TABLE_COLUMNS).
EXACT_ROW = {"attack": "exact_linf", "name": "exact", "backend": "closed_form", "norm": "inf"}


@dataclass(frozen=True)
class LinearDecision:
    """The decision function ``z = weight @ s + bias``, ``s = min(clip_high, (x - mean) / scale)``.

    Parameters
    ----------
    weight
        Classes x genes coefficients (at least two classes; a binary model's one score becomes two
        rows, e.g. ``[0, w]`` or ``[-w, w]``, so that argmax gives its label).
    bias
        One intercept per class.
    mean, scale
        Per-gene centring and positive scaling of the input (0 and 1 when None).
    clip_high
        Standardised values above it are set to it (None: no clip).
    genes, classes
        Names of the columns and of the classes, when known.

    Raises
    ------
    ScrobinError
        Shapes that do not fit together, fewer than two classes, or a scale that is not positive.
    """

    weight: np.ndarray
    bias: np.ndarray
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    clip_high: float | None = None
    genes: np.ndarray | None = None
    classes: np.ndarray | None = None

    def __post_init__(self):
        weight = np.asarray(self.weight, np.float64)
        if weight.ndim != 2 or weight.shape[0] < 2:
            raise ScrobinError(f"linear decision weight has shape {weight.shape}: pass classes x genes with at least "
                               "two classes (a binary score w as the rows [0, w])")
        n_classes, n_genes = weight.shape
        fields = {"weight": weight, "bias": np.asarray(self.bias, np.float64),
                  "mean": np.zeros(n_genes) if self.mean is None else np.asarray(self.mean, np.float64),
                  "scale": np.ones(n_genes) if self.scale is None else np.asarray(self.scale, np.float64)}
        if fields["bias"].shape != (n_classes,):
            raise ScrobinError(f"linear decision bias has shape {fields['bias'].shape} for {n_classes} classes: "
                               "pass one intercept per class")
        for name in ("mean", "scale"):
            if fields[name].shape != (n_genes,):
                raise ScrobinError(f"linear decision {name} has shape {fields[name].shape} for {n_genes} genes: "
                                   "pass one value per gene")
        if not np.all(fields["scale"] > 0):
            raise ScrobinError("linear decision scale has values <= 0: pass positive per-gene standard deviations")
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def standardise(self, x: np.ndarray) -> np.ndarray:
        """The standardised, clipped input ``s`` of dense cells x genes ``x``."""
        scaled = (x - self.mean) / self.scale
        return scaled if self.clip_high is None else np.minimum(scaled, self.clip_high)

    def scores(self, x) -> np.ndarray:
        """Decision scores, cells x classes (float64), of dense or sparse cells x genes ``x``."""
        return self.standardise(dense(x, np.float64)) @ self.weight.T + self.bias

    def restricted(self, keep: np.ndarray) -> LinearDecision:
        """The decision over the genes ``keep`` (a boolean mask) alone: the others count as
        ``s_g = 0``, as CellTypist treats model genes a query lacks."""
        genes = None if self.genes is None else np.asarray(self.genes)[keep]
        return LinearDecision(self.weight[:, keep], self.bias, self.mean[keep], self.scale[keep], self.clip_high,
                              genes, self.classes)


class ExactRobustness(NamedTuple):
    """The worst case of every cell within the box.

    ``robust``: bool per cell, True when no point of the box changes its label;
    ``min_margin``: cells x classes, the smallest ``z_y - z_j`` over the box (``inf`` at the true
    class y); ``worst_class``: the class j with the smallest margin; ``attacked_label``: the label
    at the vertex minimising that margin (the true class exactly for robust cells).
    """

    robust: np.ndarray
    min_margin: np.ndarray
    worst_class: np.ndarray
    attacked_label: np.ndarray


def exact_linf_robustness(x, y, decision: LinearDecision, eps, domain_low: float | None = None,
                          batch_size: int = 1024) -> ExactRobustness:
    """The exact worst case of each cell under an L-inf perturbation of a linear classifier.

    Parameters
    ----------
    x
        Cells x genes (dense or sparse), in the classifier's input units, columns in
        ``decision``'s gene order.
    y
        True class index per cell (rows of ``decision.weight``).
    decision
        The classifier (:class:`LinearDecision`).
    eps
        The box half-width in input units: one number, or one per gene (``eps * sd_g`` when the
        budget counts standard deviations, see :func:`exact_sweep`).
    domain_low
        Lowest valid input value (0 for log-expression); None: unbounded.
    batch_size
        Cells densified at once; memory is about 5 x ``batch_size`` x genes x 8 bytes.

    Returns
    -------
    ExactRobustness

    Raises
    ------
    ScrobinError
        Inputs whose shapes do not fit the decision, labels outside its classes, a negative or
        non-finite eps, cells already below ``domain_low``, or a batch size below 1.
    """
    labels, radius = _checked(x, y, decision, eps)
    batch_size = require_positive_int(batch_size, "batch_size")
    parts = [_exact_block(dense(x[start:start + batch_size], np.float64), labels[start:start + batch_size], decision,
                          radius, domain_low)[:4] for start in range(0, x.shape[0], batch_size)]
    if not parts:
        n_classes = decision.weight.shape[0]
        nothing = np.zeros(0, np.int64)
        return ExactRobustness(np.zeros(0, bool), np.zeros((0, n_classes)), nothing, nothing)
    return ExactRobustness(*(np.concatenate(column) for column in zip(*parts)))


def worst_case_inputs(x, y, decision: LinearDecision, eps, domain_low: float | None = None) -> np.ndarray:
    """The vertex of each cell's box that minimises its smallest margin (dense, float64): an attack
    that reaches the exact robust accuracy. Parameters as :func:`exact_linf_robustness`."""
    labels, radius = _checked(x, y, decision, eps)
    return _exact_block(dense(x, np.float64), labels, decision, radius, domain_low)[4]


def _exact_block(x: np.ndarray, y: np.ndarray, decision: LinearDecision, eps: np.ndarray, domain_low: float | None):
    """(robust, margins, worst class, attacked label, worst inputs) of one batch of cells."""
    if domain_low is not None and len(x) and x.min() < domain_low:
        raise ScrobinError(f"cells hold values down to {x.min():.4g}, below domain_low {domain_low:g}: pass the "
                           "classifier's input (log-expression is >= 0) or set domain_low to None")
    lower, upper = x - eps, x + eps
    if domain_low is not None:
        lower = np.maximum(lower, domain_low)
    s_low, s_high = decision.standardise(lower), decision.standardise(upper)
    n_classes = decision.weight.shape[0]
    margins = np.full((len(x), n_classes), np.inf)
    for true_class in np.unique(y):
        members = y == true_class
        difference = decision.weight[true_class] - decision.weight
        block = (s_low[members] @ np.maximum(difference, 0).T - s_high[members] @ np.maximum(-difference, 0).T
                 + decision.bias[true_class] - decision.bias)
        block[:, true_class] = np.inf
        margins[members] = block
    beaten = (margins < 0) | ((margins == 0) & (np.arange(n_classes) < y[:, None]))
    robust = ~beaten.any(axis=1)
    # argmin keeps the first of tied margins: the earlier class, which wins a tie against y.
    worst = margins.argmin(axis=1)
    toward = decision.weight[y] - decision.weight[worst]
    worst_inputs = np.where(toward > 0, lower, np.where(toward < 0, upper, x))
    predicted = decision.scores(worst_inputs).argmax(axis=1) if len(x) else worst
    # A broken cell whose worst vertex rounds to a tie that y wins is labelled with its worst class,
    # so the labels agree with the exact flags.
    attacked = np.where(robust, y, np.where(predicted != y, predicted, worst))
    return robust, margins, worst, attacked, worst_inputs


def _checked(x, y, decision: LinearDecision, eps) -> tuple[np.ndarray, np.ndarray]:
    """Labels as int64 and eps as one value per gene, after checking both against ``x`` and ``decision``."""
    n_classes, n_genes = decision.weight.shape
    if len(x.shape) != 2 or x.shape[1] != n_genes:
        raise ScrobinError(f"cells have shape {tuple(x.shape)} for a classifier of {n_genes} genes: pass cells x "
                           "the classifier's genes, in its order")
    labels = np.asarray(y)
    if labels.shape != (x.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ScrobinError(f"labels have shape {labels.shape} and dtype {labels.dtype} for {x.shape[0]} cells: pass "
                           "one integer class index per cell")
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise ScrobinError(f"labels run from {labels.min()} to {labels.max()}: pass class indices 0..{n_classes - 1} "
                           "of the classifier's classes")
    radius = np.asarray(eps, np.float64)
    radius = np.broadcast_to(radius, (n_genes,)) if radius.ndim == 0 else radius
    if radius.shape != (n_genes,):
        raise ScrobinError(f"eps has shape {radius.shape} for {n_genes} genes: pass one number or one per gene")
    if not (np.all(np.isfinite(radius)) and np.all(radius >= 0)):
        raise ScrobinError(f"eps holds values from {radius.min():.3g} to {radius.max():.3g}: pass finite values >= 0")
    return labels.astype(np.int64), radius


def exact_sweep(x, y, decision: LinearDecision, eps_grid: Sequence[float], unit=1.0,
                domain_low: float | None = None, batch_size: int = 1024) -> pd.DataFrame:
    """Exact robust accuracy at each eps, as rows of a robustness sweep table.

    Parameters
    ----------
    x, y, decision, domain_low, batch_size
        As :func:`exact_linf_robustness`.
    eps_grid
        Budgets in scrobin's units: standard deviations of each gene's expression (scaled-
        expression units of scrobin's models).
    unit
        What one eps is in the classifier's input units, one number or one per gene: 1 for a
        classifier on scrobin's scaled input (the logistic baseline), each gene's sd for one on
        log-expression (CellTypist: :func:`scrobin.model.celltypist_reference.celltypist_gene_sd`);
        the box is ``|delta_g| <= eps * unit_g``.

    Returns
    -------
    pandas.DataFrame
        ``scrobin.robustness.sweep.TABLE_COLUMNS``, one row per eps and an ``eps = 0`` row of
        clean metrics (as every sweep), named by :data:`EXACT_ROW`. ``accuracy`` is the exact
        robust accuracy; ``macro_f1`` is that of the labels at the worst vertices.
    """
    units = np.asarray(unit, np.float64)
    if not (np.all(np.isfinite(units)) and np.all(units > 0)):
        raise ScrobinError("unit must be positive and finite (one number or one per gene): pass each gene's sd")
    labels = np.asarray(y)
    rows = []
    for eps in sorted({0.0, *map(float, eps_grid)}):
        if not (np.isfinite(eps) and eps >= 0):
            raise ScrobinError(f"eps {eps!r} is invalid: use finite numbers >= 0")
        result = exact_linf_robustness(x, labels, decision, eps * units, domain_low, batch_size)
        rows.append({**EXACT_ROW, "eps": eps, **accuracy_with_interval(labels, result.attacked_label)})
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def logistic_decision(classifier) -> LinearDecision:
    """The decision of a fitted scikit-learn linear classifier (``coef_``, ``intercept_``,
    ``classes_``) on its own input, e.g. scrobin's logistic baseline on scaled expression.

    A binary model's score ``w . x + b`` becomes the rows ``[0, w]`` and ``[0, b]``: argmax then
    predicts the second class iff the score is > 0, as scikit-learn does.
    """
    weight, bias = np.asarray(classifier.coef_, np.float64), np.asarray(classifier.intercept_, np.float64)
    if weight.shape[0] == 1:
        weight, bias = np.vstack([np.zeros_like(weight[0]), weight[0]]), np.array([0.0, bias[0]])
    return LinearDecision(weight, bias, classes=np.asarray(classifier.classes_))


def celltypist_exact_sweep(model, cells: ad.AnnData, eps_grid: Sequence[float], split: str = "test",
                           domain_low: float | None = 0.0, batch_size: int = 1024) -> pd.DataFrame:
    """CellTypist's exact robust accuracy on one split at scrobin's budgets (:func:`exact_sweep`).

    The budget's units. scrobin's eps counts standard deviations of each gene's log-normalised
    expression over the training cells (its models read expression centred and scaled by them).
    CellTypist reads log1p counts per 10,000, so each gene may move by ``eps * sd_g``, ``sd_g`` the
    standard deviation (ddof=1) of that gene's CellTypist input over the training cells
    (:func:`scrobin.model.celltypist_reference.celltypist_gene_sd`): eps of each gene's spread in
    both models (in CellTypist's own standardised units, whose scaler divides by the population
    sd, that is ``eps * sqrt(n / (n - 1))``). Every gene CellTypist reads may move, not only
    scrobin's model genes: the budget says how far a measurement may be off, whichever model reads
    it, and an attacker of scrobin's network may move those genes too, to no effect on it; sparing
    them would overstate CellTypist's robustness. For a source scaled before scrobin saw it
    (``pbmc68k_reduced``) scrobin's unit is the source's own scaling, fitted on all its cells; the
    training cells' sd of its log-normalised ``.raw`` is the same statistic up to the cell set.

    Parameters
    ----------
    model
        A CellTypist ``Model``.
    cells
        CellTypist input with ``obs["cell_type"]`` and ``obs["split"]``
        (:func:`scrobin.model.celltypist_reference.prepared_celltypist_input`); the sd comes from
        its ``train`` cells.
    eps_grid
        Budgets in scrobin's units.
    split
        The cells attacked.
    domain_low
        Log-expression stays >= 0 (the default). scrobin's attacks on its networks do not clip
        (scaled expression is unbounded there): None gives CellTypist the same unbounded box.
        Attacked cells are not renormalised to 10,000, as the networks' are not either.
    batch_size
        Cells densified at once.

    Returns
    -------
    pandas.DataFrame
        The sweep rows of :func:`exact_sweep`.

    Raises
    ------
    ScrobinError
        A cell type the model does not know.
    """
    decision = LinearDecision(**celltypist_linear_terms(model))
    columns = cells.var_names.get_indexer(pd.Index(decision.genes, dtype=str))
    # CellTypist leaves the model genes a query lacks out of the decision.
    decision, columns = decision.restricted(columns >= 0), columns[columns >= 0]
    rows = split_rows(cells, split)
    labels = cells.obs[LABEL_KEY].astype(str).to_numpy()[rows]
    y = pd.Index(decision.classes).get_indexer(labels)
    if (y < 0).any():
        raise ScrobinError(f"cell type '{labels[y < 0][0]}' is not one of the CellTypist model's classes: pass the "
                           "cells of the dataset the model was trained on")
    x = sp.csr_matrix(cells.X)[rows][:, columns]
    return exact_sweep(x, y, decision, eps_grid, celltypist_gene_sd(cells, decision.genes), domain_low, batch_size)
