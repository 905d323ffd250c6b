"""Replicates: each measure as its mean and spread over seeds, and each adversarial regime against
the standard model, paired by seed with a Student-t interval."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats


# Summary columns whose adversarial-minus-standard difference the comparison states (the paper's
# claims: robustness gained, clean accuracy paid, explanations closer to the truth, faithful, stable).
DIFFERENCE_MEASURES = (
    "accuracy", "macro_f1", "robust_accuracy_", "certified_accuracy_", "query_accuracy_", "query_macro_f1_", "key_genes_recovered_consensus",
    "key_genes_auprc_consensus", "deletion_gain_consensus", "insertion_gain_consensus", "sensitivity_max_methods_mean",
    "infidelity_methods_mean", "de_overlap",
)


DIFFERENCES_COLUMNS = (
    "dataset", "regime", "versus", "measure", "n_seeds", "standard_mean", "regime_mean", "difference",
    "difference_sd", "ci_low", "ci_high", "confidence",
)


def mean_over_seeds(per_seed: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Rows of several replicate seeds (a ``seed`` column) reduced to one row per ``keys``.

    Parameters
    ----------
    per_seed
        One row per seed and key.
    keys
        Columns that identify a row of the result (e.g. dataset and regime).

    Returns
    -------
    pandas.DataFrame
        ``keys``, ``n_seeds``, then every other column: numbers as their mean over seeds (NaN
        values left out), text as its distinct non-empty values joined by ``; ``. When any key has
        more than one seed, each numeric column ``c`` is followed by ``c_sd``, its standard
        deviation over seeds (ddof 1; NaN for a single seed).
    """
    keys = list(keys)
    values = [column for column in per_seed.columns if column not in (*keys, "seed")]
    numeric = [column for column in values if pd.api.types.is_numeric_dtype(per_seed[column])
               and not pd.api.types.is_bool_dtype(per_seed[column])]
    groups = per_seed.groupby(keys, sort=False, dropna=False)
    result = groups[keys[0]].size().rename("n_seeds").reset_index()
    if "seed" in per_seed:
        result["n_seeds"] = groups["seed"].nunique(dropna=False).to_numpy()
    several = bool((result["n_seeds"] > 1).any())
    columns = {}
    for column in values:
        if column in numeric:
            columns[column] = groups[column].mean().to_numpy()
            if several:
                columns[f"{column}_sd"] = groups[column].std(ddof=1).to_numpy()
        else:
            columns[column] = groups[column].agg(_joined_text).to_numpy()
    return pd.concat([result, pd.DataFrame(columns, index=result.index)], axis=1)


def _joined_text(values: pd.Series):
    distinct = [str(value) for value in dict.fromkeys(values.dropna()) if str(value) != ""]
    if values.isna().all():
        return math.nan
    return "; ".join(distinct)


def differences_table(per_seed: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Each adversarial regime minus the standard model, paired by replicate seed.

    Parameters
    ----------
    per_seed
        :func:`replicate_summary` output.
    confidence
        Coverage of the Student-t interval of the mean paired difference.

    Returns
    -------
    pandas.DataFrame
        Columns ``DIFFERENCES_COLUMNS``: one row per dataset, non-standard regime and headline
        measure (``DIFFERENCE_MEASURES``: clean and robust accuracy, key genes of the consensus,
        faithfulness gains, stability, DE overlap) that both regimes have. ``difference`` is the
        mean over seeds of (regime - standard), whatever its sign; ``difference_sd``, ``ci_low``
        and ``ci_high`` (and ``confidence``, the interval's coverage) are empty with fewer than two
        paired seeds, where no interval can be given.
    """
    # A measure ending in "_" names a family (one robust accuracy per attack).
    measures = [column for column in per_seed.columns
                if any(column == measure or (measure.endswith("_") and column.startswith(measure))
                       for measure in DIFFERENCE_MEASURES)]
    rows = []
    for dataset, table in per_seed.groupby("dataset", sort=False):
        standard = table[table["regime"] == "standard"].set_index("seed")
        for regime in dict.fromkeys(table["regime"]):
            if regime == "standard":
                continue
            other = table[table["regime"] == regime].set_index("seed")
            for measure in measures:
                pairs = pd.concat([standard[measure], other[measure]], axis=1, keys=["standard", "regime"]).dropna()
                if pairs.empty:
                    continue
                rows.append({"dataset": dataset, "regime": regime, "versus": "standard", "measure": measure,
                             **paired_difference(pairs["standard"].to_numpy(float), pairs["regime"].to_numpy(float),
                                                  confidence)})
    return pd.DataFrame(rows, columns=list(DIFFERENCES_COLUMNS))


def paired_difference(standard: np.ndarray, regime: np.ndarray, confidence: float) -> dict:
    """Mean of ``regime - standard`` over paired seeds (arrays of one value per seed) with its
    standard deviation and Student-t interval of coverage ``confidence`` (NaN below two seeds):
    ``n_seeds, standard_mean, regime_mean, difference, difference_sd, ci_low, ci_high, confidence``."""
    differences = regime - standard
    n = len(differences)
    mean = float(differences.mean())
    if n < 2:
        # No interval from one pair: its coverage is no coverage either.
        sd = low = high = confidence = math.nan
    else:
        sd = float(differences.std(ddof=1))
        half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    return {"n_seeds": n, "standard_mean": float(standard.mean()), "regime_mean": float(regime.mean()),
            "difference": mean, "difference_sd": sd, "ci_low": low, "ci_high": high, "confidence": confidence}
