"""The logistic-regression baseline's gene ranking: the markers a linear classifier names.

CellTypist names a cell type's markers by its logistic regression's coefficients for that type
(``Model.extract_top_markers``: largest coefficient first). scrobin fits the same kind of model on
the same scaled input and split (:mod:`scrobin.model.logistic`), so its coefficients give a
second reference ranking that users already trust, beside differential expression: a gene
ranked by the network's explanations and by the linear model's weights is evidence from two
different models. The table has the columns every evaluation reads (``cell_type, gene, score,
rank``), so recovery and the DE overlap score it exactly like an attribution method.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scrobin.errors import ScrobinError
from scrobin.attribution.importance import DIRECTION_COLUMNS

LOGISTIC_COLUMNS = ("cell_type", "gene", "score", "rank")


def class_coefficients(classifier, n_classes: int) -> np.ndarray:
    """Coefficients of a fitted logistic regression, one row per class (classes x genes).

    A binary ``LogisticRegression`` stores one row, the log-odds weights of its second class; the
    first class's row is its negative (the two-logit form with logits -z/2 and z/2, which has the
    same ranking per class).

    Raises
    ------
    ScrobinError
        When the classifier is not fitted or its classes are not the indices 0..``n_classes``-1.
    """
    coefficients = getattr(classifier, "coef_", None)
    classes = getattr(classifier, "classes_", None)
    if coefficients is None or classes is None:
        raise ScrobinError("the logistic baseline is not fitted: load it with "
                           "scrobin.model.logistic.load_logistic_baseline")
    coefficients = np.asarray(coefficients, dtype=np.float64)
    if not np.array_equal(np.asarray(classes), np.arange(n_classes)):
        raise ScrobinError(f"the logistic baseline's classes are {list(classes)} but {n_classes} cell types "
                           f"were given: pass the model's cell types in class order (scrobin.cells.class_names)")
    if n_classes == 2 and coefficients.shape[0] == 1:
        return np.vstack([-coefficients, coefficients])
    return coefficients


def logistic_ranking(classifier, genes: Sequence[str], cell_types: Sequence[str],
                     directions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rank every gene for every cell type by the logistic baseline's coefficient, largest first.

    Source: CellTypist's ``Model.extract_top_markers`` (Dominguez Conde et al. 2022, Science
    376:eabl5197), which orders a type's genes by its coefficient, largest first.

    Parameters
    ----------
    classifier
        The fitted multinomial ``LogisticRegression`` (:func:`scrobin.model.logistic.load_logistic_baseline`):
        coefficients on the scaled model input (scaled expression per gene), classes the class
        indices 0..K-1.
    genes
        Gene name of each coefficient column (the model's genes, ``prepared.var_names``).
    cell_types
        Cell type of each class index, in the model's class order (:func:`scrobin.cells.class_names`).
    directions
        Optional ``gene_direction`` / ``direction_from_prepared`` output of the same types and
        genes, whose ``mean_in_type, mean_rest, logfoldchange, direction`` are appended.

    Returns
    -------
    pandas.DataFrame
        Long table ``cell_type, gene, score, rank`` (``score``: the coefficient, change of the
        type's log-odds per unit of scaled expression; ``rank`` 1 = largest), one row per type and
        gene, sorted by type (class order) then rank; ties keep gene order. With ``directions``,
        their four columns follow.

    Raises
    ------
    ScrobinError
        When the classifier is not fitted, its classes or coefficient columns do not match
        ``cell_types`` and ``genes``, gene names repeat, or ``directions`` lacks a type or gene.
    """
    genes = np.asarray(genes, dtype=object)
    cell_types = np.asarray([str(cell_type) for cell_type in cell_types], dtype=object)
    coefficients = class_coefficients(classifier, len(cell_types))
    if coefficients.shape != (len(cell_types), len(genes)):
        raise ScrobinError(f"the logistic baseline has {coefficients.shape[1]} coefficients per class but "
                           f"{len(genes)} genes were given: pass the genes it was fitted on (prepared.var_names)")
    if len(set(genes)) != len(genes):
        raise ScrobinError("gene names are not unique: make var_names unique before ranking")
    order = np.argsort(-coefficients, axis=1, kind="stable")
    table = pd.DataFrame({
        "cell_type": np.repeat(cell_types, len(genes)),
        "gene": genes[order].ravel(),
        "score": np.take_along_axis(coefficients, order, axis=1).ravel(),
        "rank": np.tile(np.arange(1, len(genes) + 1), len(cell_types)),
    })
    if directions is None:
        return table
    keys = ["cell_type", "gene"]
    table = table.merge(directions.loc[:, [*keys, *DIRECTION_COLUMNS]].astype({"cell_type": str}),
                        on=keys, how="left", validate="one_to_one")
    if table["direction"].isna().any():
        lacking = table.loc[table["direction"].isna(), keys].iloc[0]
        raise ScrobinError(f"no expression direction for gene '{lacking['gene']}' in cell type "
                           f"'{lacking['cell_type']}': compute directions on the model's cells and genes")
    return table
