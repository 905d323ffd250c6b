"""One table and one figure across datasets and training regimes: does adversarial training pay?

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
interval (:func:`differences_table`).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from scrobin.robustness.budget import attack_budget
from scrobin.errors import ScrobinError
from scrobin.evaluation.figures import save_figure
from scrobin.evaluation import CONSENSUS, DE_RANKING
from scrobin.evaluation.ground_truth import ALL_TYPES
from scrobin.model.check import MODEL_FLAG_COLUMN, flag_label
from scrobin.tables import read_table

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
METHOD_TABLE_COLUMNS = (
    "dataset", "regime", MODEL_FLAG_COLUMN, "method", *RECOVERY_COLUMNS.values(), *FAITHFULNESS_COLUMNS,
    *STABILITY_COLUMNS,
)

# Chance levels are the same for every ranking of a dataset, so the summary keeps them once.
CHANCE_COLUMNS = ("key_genes_top_n", "key_genes_expected", "key_genes_auprc_chance")
# Summary suffix -> the method-table columns reported for that group of rankings. Stability has no
# consensus (it is a property of an attribution method) and a mean p-value means nothing.
RANKING_GROUP_COLUMNS = {
    "consensus": ("key_genes_recovered", "key_genes_p_value", "key_genes_auprc", *FAITHFULNESS_COLUMNS),
    "methods_mean": ("key_genes_recovered", "key_genes_auprc", *FAITHFULNESS_COLUMNS, *STABILITY_COLUMNS),
    "de": ("key_genes_recovered", "key_genes_p_value", "key_genes_auprc"),
}
# Summary columns whose adversarial-minus-standard difference the comparison states (the paper's
# claims: robustness gained, clean accuracy paid, explanations closer to the truth, faithful, stable).
DIFFERENCE_MEASURES = (
    "accuracy", "macro_f1", "robust_accuracy_", "key_genes_recovered_consensus", "key_genes_auprc_consensus",
    "deletion_gain_consensus", "insertion_gain_consensus", "sensitivity_max_methods_mean",
    "infidelity_methods_mean", "de_overlap",
)
DIFFERENCES_COLUMNS = (
    "dataset", "regime", "versus", "measure", "n_seeds", "standard_mean", "regime_mean", "difference",
    "difference_sd", "ci_low", "ci_high", "confidence",
)
# The named inputs of the compare rule, each a list of files.
INPUT_KINDS = ("metrics", "robustness", "structure", "recovery", "faithfulness", "stability", "de_overlap",
               "enrichment")


@dataclass(frozen=True)
class DatasetResults:
    """The finished tables of one dataset that the comparison reads.

    ``None`` (or a missing key) stands for a table the run did not make. Tables hold every
    replicate, told apart by their ``seed`` column; :meth:`replicate` gives one seed's view.
    """

    name: str
    metrics: dict[tuple[int, str], dict]  # (seed, regime) -> the train rule's metrics
    robustness: pd.DataFrame | None
    structure: dict | None
    recovery: pd.DataFrame | None
    faithfulness: pd.DataFrame | None
    stability: pd.DataFrame | None
    de_overlap: pd.DataFrame | None
    enrichment: dict[tuple[int, str], dict] = field(default_factory=dict)  # (seed, regime) -> enrich info

    @property
    def seeds(self) -> list[int]:
        """The replicate seeds of this dataset, in increasing order."""
        return sorted({seed for seed, _ in self.metrics})

    def replicate(self, seed: int) -> "DatasetResults":
        """The results of one replicate seed; rows without a seed (the logistic baseline's sweep)
        belong to every replicate."""

        def rows(table: pd.DataFrame | None) -> pd.DataFrame | None:
            if table is None or "seed" not in table:
                return table
            return table[_same_seed(table["seed"], seed)]

        def keyed(values: dict) -> dict:
            return {key: value for key, value in values.items() if key[0] == seed}

        return replace(
            self, metrics=keyed(self.metrics), robustness=rows(self.robustness), recovery=rows(self.recovery),
            faithfulness=rows(self.faithfulness), stability=rows(self.stability), de_overlap=rows(self.de_overlap),
            enrichment=keyed(self.enrichment),
        )


def load_results(inputs: Mapping[str, Iterable[str | Path]], datasets: Sequence[str]) -> list[DatasetResults]:
    """Read the compare rule's inputs and sort them by the dataset each file names.

    Parameters
    ----------
    inputs
        Kind (one of ``INPUT_KINDS``) -> files. ``metrics`` are the train rule's JSON files and
        ``enrichment`` the enrich rule's JSON files (keys ``dataset``, ``regime``, ``seed``);
        ``structure`` the eps_structure summaries (key ``dataset``); the other kinds are per-dataset
        summary tables with a ``dataset`` column. A kind may be missing or empty.
    datasets
        The datasets of the run, in the order of the comparison's rows.

    Returns
    -------
    list of DatasetResults
        One per dataset, in ``datasets`` order.

    Raises
    ------
    ScrobinError
        For no datasets, an unknown input kind, or a file that names a dataset not in ``datasets``.
    """
    if not datasets:
        raise ScrobinError("no datasets to compare: pass at least one dataset name")
    unknown = set(inputs) - set(INPUT_KINDS)
    if unknown:
        raise ScrobinError(f"unknown comparison input(s) {', '.join(sorted(unknown))}: use {', '.join(INPUT_KINDS)}")
    jsons = {kind: [_read_json(path) for path in inputs.get(kind, ())] for kind in ("metrics", "structure", "enrichment")}
    tables = {
        kind: pd.concat([read_table(path) for path in inputs[kind]], ignore_index=True) if inputs.get(kind) else None
        for kind in ("robustness", "recovery", "faithfulness", "stability", "de_overlap")
    }
    named = {content.get("dataset") for contents in jsons.values() for content in contents}
    named |= {name for table in tables.values() if table is not None for name in table["dataset"]}
    strangers = named - set(datasets)
    if strangers:
        raise ScrobinError(f"comparison inputs name dataset(s) {', '.join(map(str, sorted(strangers, key=str)))} "
                           f"that are not in the run ({', '.join(datasets)})")

    def of(table: pd.DataFrame | None, name: str) -> pd.DataFrame | None:
        if table is None or not (table["dataset"] == name).any():
            return None
        return table[table["dataset"] == name].drop(columns="dataset").reset_index(drop=True)

    def keyed(kind: str, name: str) -> dict:
        return {(int(content["seed"]), content["regime"]): content for content in jsons[kind]
                if content["dataset"] == name}

    return [
        DatasetResults(
            name=name,
            metrics=keyed("metrics", name),
            robustness=of(tables["robustness"], name),
            structure=next((content for content in jsons["structure"] if content["dataset"] == name), None),
            recovery=of(tables["recovery"], name),
            faithfulness=of(tables["faithfulness"], name),
            stability=of(tables["stability"], name),
            de_overlap=of(tables["de_overlap"], name),
            enrichment=keyed("enrichment", name),
        )
        for name in datasets
    ]


def _read_json(path: str | Path) -> dict:
    with open(path) as handle:
        return json.load(handle)


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
    return merged.assign(dataset=dataset.name, **{MODEL_FLAG_COLUMN: flags})


def _with_seed(table: pd.DataFrame) -> pd.DataFrame:
    # A table from before replicates existed holds one seed; NaN keeps its rows together.
    return table if "seed" in table else table.assign(seed=math.nan)


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
                ranking_rows = rankings[(rankings["regime"] == regime) & _same_seed(rankings["seed"], seed)]
                rows.append({
                    "dataset": dataset.name,
                    "seed": seed,
                    "regime": regime,
                    **_clean_metrics(one.metrics.get((seed, regime))),
                    "attack_eps": budget["eps"],
                    "attack_eps_source": budget["source"],
                    **_robust_metrics(one.robustness, regime, budget["eps"]),
                    "largest_structured_eps": _largest_structured_eps(dataset.structure),
                    "key_genes_source": _key_genes_source(dataset.recovery),
                    **_ranking_summary(ranking_rows, methods),
                    **_de_overlap(one.de_overlap, regime),
                    **_enrichment(one.enrichment.get((seed, regime))),
                })
    return pd.DataFrame(rows)


def _same_seed(seeds: pd.Series, seed: float) -> pd.Series:
    # Rows of a table without seeds (NaN) belong to every replicate.
    return seeds.isna() | (seeds == seed)


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
        faithfulness and stability measures suffixed ``_consensus``, ``_methods_mean`` or ``_de``,
        ``de_overlap`` with its ``de_overlap_expected`` and ``de_overlap_p_value`` (all types), and
        ``enriched_terms`` with ``enrichment_backend``. NaN where a dataset has no such result.
        Numbers are means over replicate seeds; with several seeds each is followed by its
        standard deviation ``<column>_sd`` (:func:`mean_over_seeds`).
    """
    return mean_over_seeds(replicate_summary(datasets, regimes, methods, attack), ["dataset", "regime"])


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
        and ``ci_high`` are NaN with fewer than two paired seeds, where no interval can be given.
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
                             **_paired_difference(pairs["standard"].to_numpy(float), pairs["regime"].to_numpy(float),
                                                  confidence)})
    return pd.DataFrame(rows, columns=list(DIFFERENCES_COLUMNS))


def _paired_difference(standard: np.ndarray, regime: np.ndarray, confidence: float) -> dict:
    differences = regime - standard
    n = len(differences)
    mean = float(differences.mean())
    if n < 2:
        sd = low = high = math.nan
    else:
        sd = float(differences.std(ddof=1))
        half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    return {"n_seeds": n, "standard_mean": float(standard.mean()), "regime_mean": float(regime.mean()),
            "difference": mean, "difference_sd": sd, "ci_low": low, "ci_high": high, "confidence": confidence}


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
    }


def _model_flag(metrics: dict | None) -> str:
    return flag_label((metrics or {}).get("model_check"))


def _robust_metrics(robustness: pd.DataFrame | None, regime: str, attack_eps: float) -> dict:
    if robustness is None:
        return {}
    values = {}
    for row in closest_eps_rows(robustness, regime, attack_eps).itertuples(index=False):
        values[f"robust_eps_{row.attack}"] = row.eps
        values[f"robust_accuracy_{row.attack}"] = row.accuracy
        values[f"robust_macro_f1_{row.attack}"] = row.macro_f1
    return values


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
        "de": rows[rows["method"] == DE_RANKING],
    }
    values = {column: _mean(rows[column]) for column in CHANCE_COLUMNS}
    for suffix, columns in RANKING_GROUP_COLUMNS.items():
        values.update({f"{column}_{suffix}": _mean(groups[suffix][column]) for column in columns})
    return values


def _mean(values: pd.Series) -> float:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.mean()) if len(values) else math.nan


def _de_overlap(table: pd.DataFrame | None, regime: str) -> dict:
    names = {"overlap": "de_overlap", "expected": "de_overlap_expected", "p_value": "de_overlap_p_value"}
    if table is None:
        return dict.fromkeys(names.values(), math.nan)
    rows = table[(table["regime"] == regime) & (table["cell_type"].astype(str) == ALL_TYPES)]
    return {name: _mean(rows[column]) for column, name in names.items()}


def _enrichment(info: dict | None) -> dict:
    return {
        # A finished analysis that found nothing has zero terms, not NaN.
        "enriched_terms": math.nan if info is None else int(info["significant_terms"]),
        "enrichment_backend": (info or {}).get("backend", math.nan),
    }


@dataclass(frozen=True)
class _Panel:
    """One panel of the comparison figure: a bar per dataset and regime, optional overlays."""

    title: str
    ylabel: str
    bars: str
    markers: tuple[tuple[str, str, str], ...] = ()  # (column, marker, legend label)
    chance: str | None = None
    p_value: str | None = None


def _comparison_panels(summary: pd.DataFrame) -> list[_Panel]:
    """The panels :func:`plot_comparison` draws, with one robust-accuracy marker per attack found."""
    attacks = [column.removeprefix("robust_accuracy_") for column in summary.columns
               if column.startswith("robust_accuracy_")]
    budgets = summary["attack_eps"].dropna().unique() if "attack_eps" in summary else []
    eps_label = f"eps ~{budgets[0]:g}" if len(budgets) == 1 else "each dataset's attack budget"
    attack_markers = tuple((f"robust_accuracy_{attack}", marker, f"{attack}, {eps_label}")
                           for attack, marker in zip(attacks, itertools.cycle("v^sDPX*")))

    def with_mean(column: str) -> tuple[tuple[str, str, str], ...]:
        return ((f"{column}_methods_mean", "o", "mean over methods"),)

    return [
        _Panel("Accuracy", "clean (bars), attacked (markers)", "accuracy", attack_markers),
        _Panel("Key genes, consensus", "key genes in top lists (line: chance)", "key_genes_recovered_consensus",
               with_mean("key_genes_recovered"), chance="key_genes_expected", p_value="key_genes_p_value_consensus"),
        _Panel("Deletion gain, consensus", "deletion AUC gain over random", "deletion_gain_consensus",
               with_mean("deletion_gain")),
        _Panel("Insertion gain, consensus", "insertion AUC gain over random", "insertion_gain_consensus",
               with_mean("insertion_gain")),
        _Panel("Sensitivity, mean over methods", "sensitivity_max (lower: stabler)", "sensitivity_max_methods_mean"),
        _Panel("Infidelity, mean over methods", "infidelity (lower: more faithful)", "infidelity_methods_mean"),
    ]

def plot_comparison(summary: pd.DataFrame, path: str | Path, alpha: float = 0.05) -> Path:
    """Regimes side by side per dataset: accuracy, key genes vs chance, faithfulness, stability.

    Parameters
    ----------
    summary
        :func:`summary_table` output.
    path
        Output image; the format follows the suffix.
    alpha
        A star marks key-gene counts whose p-value is below ``alpha``.

    Returns
    -------
    pathlib.Path
        ``path``. A panel whose measure no dataset has (key genes without truth or markers) says so.
    """
    missing = {"dataset", "regime"} - set(summary.columns)
    if missing or summary.empty:
        raise ScrobinError("summary is empty or lacks dataset/regime columns: pass summary_table output")
    panels = _comparison_panels(summary)
    regimes = list(dict.fromkeys(summary["regime"]))
    n_columns = 3
    n_rows = math.ceil(len(panels) / n_columns)
    n_datasets = summary["dataset"].nunique()
    figure = Figure(figsize=(2.0 + (1.0 + 1.4 * n_datasets) * n_columns, 3.2 * n_rows), layout="constrained")
    axes = figure.subplots(n_rows, n_columns, squeeze=False).ravel()
    for axis, panel in zip(axes, panels):
        _draw_panel(axis, summary, panel, regimes, alpha)
    for axis in axes[len(panels):]:
        axis.set_axis_off()
    handles = {}
    for axis in axes:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    labels = sorted(handles, key=lambda label: label not in regimes)  # regimes first, then overlays
    figure.legend([handles[label] for label in labels], labels, loc="outside right center", frameon=False,
                  fontsize=8)
    return save_figure(figure, path)


def _draw_panel(axis, summary: pd.DataFrame, panel: _Panel, regimes: list[str], alpha: float) -> None:
    axis.set_title(panel.title, fontsize=9)
    values = summary[panel.bars] if panel.bars in summary else pd.Series(np.nan, index=summary.index)
    shown = summary[values.notna()]
    if shown.empty:
        axis.text(0.5, 0.5, "not available for these datasets", ha="center", va="center",
                  transform=axis.transAxes, fontsize=8)
        axis.set_axis_off()
        return
    datasets = list(dict.fromkeys(shown["dataset"]))
    width = 0.8 / len(regimes)
    for offset, regime in enumerate(regimes):
        rows = shown[shown["regime"] == regime].set_index("dataset").reindex(datasets)
        centres = np.arange(len(datasets)) - 0.4 + width * (offset + 0.5)
        # Error bars: the spread over replicate seeds, when there are several.
        spread = rows[f"{panel.bars}_sd"] if f"{panel.bars}_sd" in rows else None
        axis.bar(centres, rows[panel.bars], width, yerr=spread, capsize=2, color=f"C{offset}", alpha=0.7,
                 label=regime)
        for index, (column, marker, label) in enumerate(panel.markers):
            # Markers side by side within the bar, so equal values of two attacks stay visible.
            shift = (index - (len(panel.markers) - 1) / 2) * width / (len(panel.markers) + 1)
            if column in rows:
                axis.scatter(centres + shift, rows[column], marker=marker, color="black", s=18, zorder=3,
                             label=label)
        if panel.chance:
            axis.hlines(rows[panel.chance], centres - width / 2, centres + width / 2, colors="black",
                        linewidth=2, zorder=3, label="expected by chance")
        if panel.p_value:
            for x, height, p_value in zip(centres, rows[panel.bars], rows[panel.p_value]):
                if p_value < alpha:
                    axis.annotate("*", (x, height), ha="center", va="bottom")
    axis.set_xticks(range(len(datasets)))
    axis.set_xticklabels(datasets)
    axis.set_ylabel(panel.ylabel, fontsize=8)
    if panel.p_value:
        axis.set_xlabel(f"* p < {alpha}", fontsize=7)


def compare_run(
    inputs: Mapping[str, Iterable[str | Path]], datasets: Sequence[str], regimes: Sequence[str],
    methods: Sequence[str], attack: Mapping,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str]]:
    """Load every dataset of a finished run and build the comparison tables.

    Parameters
    ----------
    inputs
        The compare rule's named inputs (:func:`load_results`).
    datasets, regimes, methods, attack
        As in :func:`summary_table`.

    Returns
    -------
    summary, methods, differences, lacking
        :func:`summary_table`, :func:`method_table`, :func:`differences_table`, and one line per
        dataset and kind of result it lacks (e.g. ``real: no recovery``), to log.
    """
    loaded = load_results(inputs, datasets)
    per_seed = replicate_summary(loaded, regimes, methods, attack)
    summary = mean_over_seeds(per_seed, ["dataset", "regime"])
    lacking = [f"{dataset.name}: no {kind}" for dataset in loaded for kind in _lacking(dataset)]
    return summary, method_table(loaded), differences_table(per_seed), lacking


def _lacking(dataset: DatasetResults) -> list[str]:
    present = {
        "metrics": dataset.metrics, "robustness": dataset.robustness is not None,
        "structure": dataset.structure is not None, "recovery": dataset.recovery is not None,
        "faithfulness": dataset.faithfulness is not None, "stability": dataset.stability is not None,
        "de_overlap": dataset.de_overlap is not None, "enrichment": dataset.enrichment,
    }
    return [kind for kind, found in present.items() if not found]
