"""The comparison's tables across datasets and training regimes: does adversarial training pay?

Every stage of a run answers one question per dataset; the comparison puts the answers side by
side so a regime's cost (clean accuracy) is read next to its gains (robust accuracy, key genes
found beyond chance, faithful and stable explanations). It reads the finished tables the compare
rule names as its inputs; every one of them says what it holds (a ``dataset`` column or key, and
``seed`` and ``regime`` for a replicate's results), so no path is decoded. A table the run did not
make (recovery for real data without a markers file, enrichment for simulated data) gives NaN, not
an error, so one table covers every kind of dataset.

With several replicates (``replicates: N``, one training seed each) every measure is computed per
seed, then reported as the mean with its standard deviation over seeds (``<measure>_sd``), and the
difference of each adversarial regime from the standard model is paired by seed with a Student-t
interval (:func:`scrobin.compare.seeds.differences_table`). The figure is drawn by
:mod:`scrobin.compare.figure`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from scrobin.compare.results import DatasetResults, lacking, load_results, same_seed
from scrobin.compare.seeds import differences_table, mean_over_seeds
from scrobin.errors import ScrobinError
from scrobin.evaluation import CELLTYPIST_RANKING, CONSENSUS, DE_RANKING, LOGISTIC_RANKING
from scrobin.evaluation.ground_truth import ALL_TYPES
from scrobin.model.check import MODEL_FLAG_COLUMN, flag_label
from scrobin.robustness.budget import attack_budget
from scrobin.robustness.table import CERTIFIED_PREFIX


# Measures per ranking (method table columns), renamed from the evaluation tables so that one
# ``p_value`` or ``expected`` cannot be mistaken for another table's.
RECOVERY_COLUMNS = {
    "top_n": "key_genes_top_n",
    "recovered": "key_genes_recovered",
    "expected": "key_genes_expected",
    "p_value": "key_genes_p_value",
    "auprc": "key_genes_auprc",
    "auprc_chance": "key_genes_auprc_chance",
}


FAITHFULNESS_COLUMNS = ("deletion_auc", "insertion_auc", "deletion_gain", "insertion_gain")


STABILITY_COLUMNS = ("sensitivity_max", "infidelity")


# The sanity checks' verdict on a method (evaluation.sanity_regimes' models).
SANITY_COLUMNS = ("sanity_spearman_randomised", "sanity_spearman_random_logit")
METHOD_TABLE_COLUMNS = (
    "dataset", "regime", MODEL_FLAG_COLUMN, "method", *RECOVERY_COLUMNS.values(), *FAITHFULNESS_COLUMNS,
    *STABILITY_COLUMNS, *SANITY_COLUMNS, "sanity_verdict",
)
# The baseline rankings every explanation is held against, by summary suffix.
BASELINES = {"de": DE_RANKING, "logistic": LOGISTIC_RANKING, "celltypist": CELLTYPIST_RANKING}


# Chance levels are the same for every ranking of a dataset, so the summary keeps them once.
CHANCE_COLUMNS = ("key_genes_top_n", "key_genes_expected", "key_genes_auprc_chance")


# Summary suffix -> the method-table columns reported for that group of rankings. Stability has no
# consensus (it is a property of an attribution method) and a mean p-value means nothing.
RANKING_GROUP_COLUMNS = {
    "consensus": ("key_genes_recovered", "key_genes_p_value", "key_genes_auprc", *FAITHFULNESS_COLUMNS),
    "methods_mean": ("key_genes_recovered", "key_genes_auprc", *FAITHFULNESS_COLUMNS, *STABILITY_COLUMNS),
    **{suffix: ("key_genes_recovered", "key_genes_p_value", "key_genes_auprc") for suffix in BASELINES},
}


def closest_eps_rows(robustness: pd.DataFrame, model: str, eps: float) -> pd.DataFrame:
    """Per attack, the sweep row of ``model`` whose eps is closest to ``eps``.

    The ``eps = 0`` rows hold clean metrics, not robustness, so they never count. On a tie the
    smaller eps wins (the weaker attack, so robustness is not understated by the choice).

    Returns
    -------
    pandas.DataFrame
        One row per attack, in the sweep's attack order; empty when the model has no attacked rows.
    """
    missing = {"model", "attack", "eps", "accuracy", "macro_f1"} - set(robustness.columns)
    if missing:
        raise ScrobinError(f"robustness table lacks column(s) {', '.join(sorted(missing))}: pass the "
                           f"robustness_curves rule's summary.tsv")
    robustness = robustness.reset_index(drop=True)  # unique labels for idxmin
    attacked = robustness[(robustness["model"] == model) & (robustness["eps"] > 0)]
    distance = (attacked["eps"] - eps).abs().rename("distance")
    # idxmin keeps the first of tied rows; ordering by eps first makes that the smaller eps.
    by_eps = pd.concat([attacked, distance], axis=1).sort_values("eps", kind="stable")
    chosen = by_eps.groupby("attack")["distance"].idxmin()
    return attacked[attacked.index.isin(chosen)]


def method_table(datasets: Sequence[DatasetResults]) -> pd.DataFrame:
    """One row per dataset, regime and ranking: key-gene recovery, faithfulness and stability.

    Rankings are the attribution methods plus whatever reference the evaluation tables carry
    (consensus, the DE baseline, the random deletion order); a measure a table does not have for a
    ranking is NaN. Recovery is read from the ``all types`` rows. ``model_flag`` gives the reasons
    the regime's model was flagged as not worth explaining (:func:`scrobin.model.check.check_model`),
    empty when it was not. Measures are means over replicate seeds (``n_seeds``), with their
    standard deviation in ``<measure>_sd`` when there is more than one seed.
    """
    tables = [_dataset_method_rows(dataset) for dataset in datasets]
    tables = [table for table in tables if len(table)]
    if not tables:
        return pd.DataFrame(columns=list(METHOD_TABLE_COLUMNS))
    per_seed = pd.concat(tables, ignore_index=True).reindex(columns=["seed", *METHOD_TABLE_COLUMNS])
    return mean_over_seeds(per_seed, ["dataset", "regime", "method"])


def _dataset_method_rows(dataset: DatasetResults) -> pd.DataFrame:
    keys = ["seed", "regime", "method"]
    parts = []
    if dataset.recovery is not None:
        rows = dataset.recovery[dataset.recovery["cell_type"].astype(str) == ALL_TYPES]
        parts.append(_with_seed(rows)[keys + list(RECOVERY_COLUMNS)].rename(columns=RECOVERY_COLUMNS))
    if dataset.faithfulness is not None:
        parts.append(_with_seed(dataset.faithfulness).rename(columns={"ranking": "method"})[keys + list(FAITHFULNESS_COLUMNS)])
    if dataset.stability is not None:
        parts.append(_with_seed(dataset.stability)[keys + list(STABILITY_COLUMNS)])
    verdicts = None
    if dataset.sanity is not None:
        sanity = _sanity_rows(_with_seed(dataset.sanity))
        parts.append(sanity[keys + list(SANITY_COLUMNS)])
        verdicts = sanity.set_index(keys)["sanity_verdict"]
    if not parts:
        return pd.DataFrame(columns=list(METHOD_TABLE_COLUMNS))
    # The tables share no measure column, so averaging the stacked rows per key joins them,
    # keeping first-seen order (which a merge would sort).
    merged = pd.concat(parts, ignore_index=True).groupby(keys, sort=False, as_index=False, dropna=False).mean(
        numeric_only=True)
    # Rankings only some tables have (random, DE) come last; keep each regime's rows together.
    regime_rank = {regime: rank for rank, regime in enumerate(dict.fromkeys(merged["regime"]))}
    merged = merged.sort_values("regime", key=lambda regimes: regimes.map(regime_rank), kind="stable")
    flags = [_model_flag(dataset.metrics.get((seed, regime))) for seed, regime in zip(merged["seed"], merged["regime"])]
    verdict = [verdicts.get(key, math.nan) if verdicts is not None else math.nan
               for key in zip(merged["seed"], merged["regime"], merged["method"])]
    return merged.assign(dataset=dataset.name, sanity_verdict=verdict, **{MODEL_FLAG_COLUMN: flags})


def _sanity_rows(sanity: pd.DataFrame) -> pd.DataFrame:
    """Per seed, regime and method: the |Spearman| after full randomisation, the random-logit
    correlation and the verdict (the sanity job's table, one row per check step)."""
    keys = ["seed", "regime", "method"]
    randomised = sanity[sanity["check"] == "model_randomisation"]
    deepest = randomised.loc[randomised.groupby(keys, dropna=False)["layers_randomised"].idxmax()]
    logit = sanity[sanity["check"] == "random_logit"].set_index(keys)["spearman_mean"]
    rows = deepest.set_index(keys)
    return pd.DataFrame({
        "sanity_spearman_randomised": rows["spearman_abs_mean"],
        "sanity_spearman_random_logit": logit.reindex(rows.index),
        "sanity_verdict": rows["verdict"] if "verdict" in rows else math.nan,
    }).reset_index()


def _with_seed(table: pd.DataFrame) -> pd.DataFrame:
    # A table from before replicates existed holds one seed; NaN keeps its rows together.
    return table if "seed" in table else table.assign(seed=math.nan)


def replicate_summary(
    datasets: Sequence[DatasetResults], regimes: Sequence[str], methods: Sequence[str], attack: Mapping
) -> pd.DataFrame:
    """:func:`summary_table`'s rows per replicate seed (a leading ``seed`` column), not averaged."""
    method_rows = [_dataset_method_rows(dataset).reindex(columns=["seed", *METHOD_TABLE_COLUMNS]) for dataset in datasets]
    rows = []
    for dataset, rankings in zip(datasets, method_rows):
        budget = _attack_budget(attack, dataset)
        for seed in dataset.seeds or [math.nan]:
            one = dataset if math.isnan(seed) else dataset.replicate(seed)
            for regime in regimes:
                ranking_rows = rankings[(rankings["regime"] == regime) & same_seed(rankings["seed"], seed)]
                rows.append({
                    "dataset": dataset.name,
                    "seed": seed,
                    "regime": regime,
                    **_clean_metrics(one.metrics.get((seed, regime))),
                    "attack_eps": budget["eps"],
                    "attack_eps_source": budget["source"],
                    "attack_eps_structure_score": budget.get("structure_score", math.nan),
                    **_robust_metrics(one.robustness, regime, budget["eps"]),
                    **_radius(dataset.radius, regime),
                    "largest_structured_eps": _largest_structured_eps(dataset.structure),
                    "key_genes_source": _key_genes_source(dataset.recovery),
                    **_ranking_summary(ranking_rows, methods),
                    **_de_overlap(one.de_overlap, regime),
                    **_enrichment(one.enrichment.get((seed, regime))),
                    **_reference_classifiers(dataset, budget["eps"]),
                    **_queries(one.queries, regime),
                })
    return pd.DataFrame(rows)


def summary_table(
    datasets: Sequence[DatasetResults], regimes: Sequence[str], methods: Sequence[str], attack: Mapping
) -> pd.DataFrame:
    """One row per dataset and regime with the headline number of every stage.

    Parameters
    ----------
    datasets
        Loaded results, e.g. from :func:`load_results`.
    regimes
        Training regimes, one row each (standard first, as the reference).
    methods
        Attribution methods averaged in the ``*_methods_mean`` columns (references such as the
        consensus, DE and random orders are kept apart).
    attack
        The ``attack`` config section; each dataset's headline attack strength is its attack
        budget (:func:`scrobin.robustness.budget.attack_budget`: the configured eps, or with ``auto``
        the one its eps-structure check chose). Robust metrics come from the sweep row nearest to
        it, and the eps actually used is kept in ``robust_eps_<attack>``.

    Returns
    -------
    pandas.DataFrame
        Columns: ``dataset``, ``regime``, ``n_seeds`` (replicates), clean ``accuracy`` and
        ``macro_f1``, the logistic baseline's on the same split (``logistic_accuracy``,
        ``logistic_macro_f1``), ``model_flag`` (why the model is not worth explaining; empty when it
        is), ``attack_eps`` with ``attack_eps_source`` (``config``, ``eps_structure`` or ``none``
        when auto found no budget), ``robust_eps|robust_accuracy|robust_macro_f1_<attack>`` per
        attack, ``largest_structured_eps`` (per dataset), ``key_genes_source`` (``simulation`` or
        ``markers: <file>``, what recovery scored against), the chance levels of key-gene recovery
        (``key_genes_top_n``, ``key_genes_expected``, ``key_genes_auprc_chance``), recovery,
        faithfulness and stability measures suffixed ``_consensus``, ``_methods_mean`` or a
        baseline's (``_de``: tie-corrected rank-sum DE; ``_logistic``: the logistic regression's
        coefficients; ``_celltypist``: CellTypist's markers), the ``strongest_baseline`` by AUPRC
        with its ``key_genes_recovered|auprc_strongest_baseline``, the consensus's overlap with
        the baselines' top genes (``de_overlap``, ``logistic_overlap``, each with ``_expected`` and
        ``_p_value``; all types), ``enriched_terms`` with ``enrichment_backend``, the reference
        classifiers (``logistic_robust_accuracy_exact``, ``celltypist_accuracy``,
        ``celltypist_macro_f1``, ``celltypist_robust_accuracy_exact`` and ``_in_domain``), and per
        labelled query ``query_accuracy_<query>``, ``query_macro_f1_<query>`` (and CellTypist's
        ``celltypist_query_accuracy_<query>``). NaN where a dataset has no such result.
        Numbers are means over replicate seeds; with several seeds each is followed by its
        standard deviation ``<column>_sd`` (:func:`mean_over_seeds`).
    """
    return mean_over_seeds(replicate_summary(datasets, regimes, methods, attack), ["dataset", "regime"])


def _attack_budget(attack: Mapping, dataset: DatasetResults) -> dict:
    try:
        return attack_budget(attack, dataset.structure, dataset.name)
    except ScrobinError:
        return {"eps": math.nan, "source": "none"}


def _clean_metrics(metrics: dict | None) -> dict:
    metrics = metrics or {}
    logistic = metrics.get("logistic_baseline", {})
    return {
        **{name: metrics.get(name, math.nan) for name in ("accuracy", "macro_f1")},
        **{f"logistic_{name}": logistic.get(name, math.nan) for name in ("accuracy", "macro_f1")},
        MODEL_FLAG_COLUMN: _model_flag(metrics),
        "test_split": metrics.get("test_split", math.nan),
    }


def _model_flag(metrics: dict | None) -> str:
    return flag_label((metrics or {}).get("model_check"))


def _robust_metrics(robustness: pd.DataFrame | None, regime: str, attack_eps: float) -> dict:
    """Per attack, the accuracy (and macro-F1) at the budget: ``robust_accuracy_<attack>`` for an
    attack (an upper bound of the true robust accuracy; ``strongest`` the worst case over every
    attack), ``certified_accuracy_<method>`` for a certificate (a lower bound), and
    ``pgd_overstates``: how far PGD's accuracy lies above the strongest attack's (gradient masking)."""
    if robustness is None:
        return {}
    values = {}
    for row in closest_eps_rows(robustness, regime, attack_eps).itertuples(index=False):
        if row.attack.startswith(CERTIFIED_PREFIX):
            values[f"certified_accuracy_{row.attack.removeprefix(CERTIFIED_PREFIX)}"] = row.accuracy
            continue
        values[f"robust_eps_{row.attack}"] = row.eps
        values[f"robust_accuracy_{row.attack}"] = row.accuracy
        if not math.isnan(row.macro_f1):  # APGD and strongest rows record survivors only, no labels to score
            values[f"robust_macro_f1_{row.attack}"] = row.macro_f1
    if "robust_accuracy_pgd_linf" in values and "robust_accuracy_strongest" in values:
        values["pgd_overstates"] = values["robust_accuracy_pgd_linf"] - values["robust_accuracy_strongest"]
    return values


def _radius(radius: pd.DataFrame | None, regime: str) -> dict:
    """The regime's median certified radius over every test cell (replicates pooled)."""
    if radius is None:
        return {"certified_radius_median": math.nan}
    rows = radius[(radius["regime"] == regime) & (radius["cell_type"].astype(str) == ALL_TYPES)]
    return {"certified_radius_median": _mean(rows["radius_median"])}


def _largest_structured_eps(structure: dict | None) -> float:
    # JSON null means even the smallest eps broke the structure: no eps qualifies, NaN as well.
    largest = (structure or {}).get("largest_structured_eps")
    return math.nan if largest is None else float(largest)


def _key_genes_source(recovery: pd.DataFrame | None):
    if recovery is None:
        return math.nan
    return "; ".join(dict.fromkeys(recovery["key_genes_source"].astype(str)))


def _ranking_summary(rows: pd.DataFrame, methods: Sequence[str]) -> dict:
    groups = {
        "consensus": rows[rows["method"] == CONSENSUS],
        "methods_mean": rows[rows["method"].isin(methods)],
        **{suffix: rows[rows["method"] == name] for suffix, name in BASELINES.items()},
    }
    values = {column: _mean(rows[column]) for column in CHANCE_COLUMNS}
    for suffix, columns in RANKING_GROUP_COLUMNS.items():
        values.update({f"{column}_{suffix}": _mean(groups[suffix][column]) for column in columns})
    # The strongest baseline by AUPRC (threshold-free): what the consensus is held against.
    scored = {suffix: values[f"key_genes_auprc_{suffix}"] for suffix in BASELINES
              if not math.isnan(values[f"key_genes_auprc_{suffix}"])}
    strongest = max(scored, key=scored.get) if scored else None
    values["strongest_baseline"] = BASELINES[strongest] if strongest else math.nan
    for measure in ("key_genes_recovered", "key_genes_auprc"):
        values[f"{measure}_strongest_baseline"] = values[f"{measure}_{strongest}"] if strongest else math.nan
    return values


def _mean(values: pd.Series) -> float:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.mean()) if len(values) else math.nan


def _de_overlap(table: pd.DataFrame | None, regime: str) -> dict:
    """The consensus's overlap with each baseline's top genes (all types): ``de_overlap`` (the
    paper's comparison) and ``logistic_overlap``, each with its expectation and p-value."""
    values = {}
    for suffix, baseline in (("de", DE_RANKING), ("logistic", LOGISTIC_RANKING)):
        names = {"overlap": f"{suffix}_overlap", "expected": f"{suffix}_overlap_expected",
                 "p_value": f"{suffix}_overlap_p_value"}
        if table is None:
            values.update(dict.fromkeys(names.values(), math.nan))
            continue
        # Tables written before the logistic baseline joined have no baseline column: all DE.
        of_baseline = table["baseline"] == baseline if "baseline" in table else pd.Series(suffix == "de", table.index)
        rows = table[of_baseline & (table["regime"] == regime) & (table["cell_type"].astype(str) == ALL_TYPES)]
        values.update({name: _mean(rows[column]) for column, name in names.items()})
    return values


def _reference_classifiers(dataset: DatasetResults, attack_eps: float) -> dict:
    """The reference classifiers beside the networks: the logistic baseline's exact robust accuracy
    and CellTypist's test accuracy, macro-F1 and exact robust accuracy (unbounded, as the networks'
    attacks; and keeping log-expression >= 0) at the dataset's attack budget."""
    values = {"logistic_robust_accuracy_exact": math.nan, "celltypist_accuracy": math.nan,
              "celltypist_macro_f1": math.nan, "celltypist_robust_accuracy_exact": math.nan,
              "celltypist_robust_accuracy_exact_in_domain": math.nan}
    robustness = dataset.robustness
    if robustness is not None and "exact_linf" in set(robustness["attack"]):
        for model, prefix in (("logreg", "logistic"), ("celltypist", "celltypist")):
            rows = closest_eps_rows(robustness[robustness["attack"] == "exact_linf"], model, attack_eps)
            if len(rows):
                values[f"{prefix}_robust_accuracy_exact"] = float(rows["accuracy"].iloc[0])
                if "accuracy_in_domain" in rows and model == "celltypist":
                    values["celltypist_robust_accuracy_exact_in_domain"] = float(rows["accuracy_in_domain"].iloc[0])
    if dataset.celltypist is not None:
        values["celltypist_accuracy"] = dataset.celltypist["accuracy"]
        values["celltypist_macro_f1"] = dataset.celltypist["macro_f1"]
        for query, score in dataset.celltypist.get("queries", {}).items():
            values[f"celltypist_query_accuracy_{query}"] = score["accuracy"]
    return values


def _queries(table: pd.DataFrame | None, regime: str) -> dict:
    """Each labelled query's accuracy and macro-F1 for this regime's model (one replicate)."""
    if table is None:
        return {}
    rows = table[table["regime"] == regime]
    values = {}
    for query, scores in rows.groupby("query", sort=True):
        values[f"query_accuracy_{query}"] = _mean(scores["accuracy"])
        values[f"query_macro_f1_{query}"] = _mean(scores["macro_f1"])
    return values


def _enrichment(info: dict | None) -> dict:
    return {
        # A finished analysis that found nothing has zero terms, not NaN.
        "enriched_terms": math.nan if info is None else int(info["significant_terms"]),
        "enrichment_backend": (info or {}).get("backend", math.nan),
    }


def compare_run(
    inputs: Mapping[str, Iterable[str | Path]], datasets: Sequence[str], regimes: Sequence[str],
    methods: Sequence[str], attack: Mapping,
) -> "Comparison":
    """Load every dataset of a finished run and build the comparison tables.

    Parameters
    ----------
    inputs
        The compare rule's named inputs (:func:`load_results`).
    datasets, regimes, methods, attack
        As in :func:`summary_table`.

    Returns
    -------
    Comparison
    """
    loaded = load_results(inputs, datasets)
    per_seed = replicate_summary(loaded, regimes, methods, attack)
    summary = mean_over_seeds(per_seed, ["dataset", "regime"])
    missing = [f"{dataset.name}: no {kind}" for dataset in loaded for kind in lacking(dataset)]
    def stacked(kind: str) -> pd.DataFrame | None:
        tables = [getattr(dataset, kind).assign(dataset=dataset.name) for dataset in loaded
                  if getattr(dataset, kind) is not None]
        return pd.concat(tables, ignore_index=True) if tables else None

    return Comparison(summary, per_seed, method_table(loaded), differences_table(per_seed), stacked("consensus"),
                      stacked("radius"), missing)


class Comparison(NamedTuple):
    """What :func:`compare_run` builds from a finished run."""

    summary: pd.DataFrame
    """:func:`summary_table`: one row per dataset and regime, means (and sds) over seeds."""
    per_seed: pd.DataFrame
    """:func:`replicate_summary`: the same columns, one row per seed."""
    methods: pd.DataFrame
    """:func:`method_table`: one row per dataset, regime and ranking."""
    differences: pd.DataFrame
    """:func:`scrobin.compare.seeds.differences_table`: each regime minus the standard model."""
    consensus: pd.DataFrame | None
    """Every consensus table of the run, with its dataset (the verdict's per-type trust and genes)."""
    radius: pd.DataFrame | None
    """Every dataset's certified radius per regime and cell type (the verdict's fragile types)."""
    lacking: list[str]
    """One line per dataset and kind of result the run did not make, to log."""
