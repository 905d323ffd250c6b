"""Over-representation statistics: the hypergeometric tail and multiple-testing corrections.

Kept apart from the GMT reader so the numbers can be checked against independent computations
without any file or gene-name handling in the way.
"""

from __future__ import annotations

import numpy as np

from scrobin.errors import ScrobinError

CORRECTIONS = ("fdr", "bonferroni")


def hypergeometric_tail(
    intersection_size: np.ndarray,
    domain_size: np.ndarray,
    term_size: np.ndarray,
    query_size: np.ndarray,
) -> np.ndarray:
    """P(X >= k) for X ~ Hypergeometric(domain, term, query): the one-sided ORA p-value.

    ``sf(k - 1)`` rather than ``1 - cdf(k - 1)`` keeps precision for the tiny p-values strong
    enrichments produce. Arguments broadcast, so all terms and queries go in one call.
    """
    # scipy.stats takes a second to import; the config check reads GMT files through this
    # package and needs no statistics.
    from scipy.stats import hypergeom

    return hypergeom.sf(
        np.asarray(intersection_size) - 1,
        np.asarray(domain_size),
        np.asarray(term_size),
        np.asarray(query_size),
    )


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (step-up FDR), in the input order.

    The i-th smallest p-value becomes ``min over j >= i of p_(j) * m / j``, capped at 1; the running
    minimum from the largest down is what keeps the adjusted values monotone in the raw ones.
    """
    p_values = np.asarray(p_values, dtype=float)
    test_count = p_values.size
    if test_count == 0:
        return p_values.copy()
    order = np.argsort(p_values, kind="stable")
    ranks = np.arange(1, test_count + 1)
    scaled = p_values[order] * test_count / ranks
    monotone = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(test_count)
    adjusted[order] = np.minimum(monotone, 1.0)
    return adjusted


def bonferroni(p_values: np.ndarray) -> np.ndarray:
    """Bonferroni adjusted p-values: each times the number of tests, capped at 1."""
    p_values = np.asarray(p_values, dtype=float)
    return np.minimum(p_values * p_values.size, 1.0)


def adjust_p_values(p_values: np.ndarray, method: str) -> np.ndarray:
    """Adjust one family of p-values by ``method`` ('fdr' = Benjamini-Hochberg, or 'bonferroni')."""
    if method == "fdr":
        return benjamini_hochberg(p_values)
    if method == "bonferroni":
        return bonferroni(p_values)
    raise ScrobinError(f"correction '{method}' is unknown offline: use one of {', '.join(CORRECTIONS)}")
