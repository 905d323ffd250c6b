"""One table and one figure across datasets and training regimes: does adversarial training pay?

Every stage of a run answers one question per dataset; the comparison puts the answers side by
side so a regime's cost (clean accuracy) is read next to its gains (robust accuracy, key genes
found beyond chance, faithful and stable explanations). It only reads finished tables under the
output layout of the workflow (``results/{dataset}/...``); a table the run did not make (recovery
for real data without a markers file, enrichment for simulated data) gives NaN, not an error, so
one table covers every kind of dataset.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

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


@dataclass(frozen=True)
class DatasetResults:
    """The finished tables of one dataset that the comparison reads.

    ``None`` (or a missing regime key) stands for a table the run did not make; ``absent`` lists
    those paths so a caller can say what was left out.
    """

    name: str
    metrics: dict[str, dict]
    robustness: pd.DataFrame | None
    structure: dict | None
    recovery: pd.DataFrame | None
    faithfulness: pd.DataFrame | None
    stability: pd.DataFrame | None
    de_overlap: pd.DataFrame | None
    enrichment: dict[str, pd.DataFrame]
    enrichment_info: dict[str, dict]
    absent: tuple[str, ...] = ()


def load_dataset_results(results_dir: str | Path, dataset: str, regimes: Sequence[str]) -> DatasetResults:
    """Read one dataset's tables from ``results_dir/dataset`` (the workflow's output layout).

    Parameters
    ----------
    results_dir
        The run's ``results`` folder.
    dataset
        Dataset name (its sub-folder).
    regimes
        Training regimes whose per-regime files (metrics, enrichment) are read.

    Returns
    -------
    DatasetResults
        Files that do not exist are left out and listed in ``absent``.
    """
    folder = Path(results_dir) / dataset
    absent = []

    def read(relative: str, reader):
        path = folder / relative
        if not path.exists():
            absent.append(str(path))
            return None
        return reader(path)

    def per_regime(template: str, reader) -> dict:
        found = {regime: read(template.format(regime=regime), reader) for regime in regimes}
        return {regime: value for regime, value in found.items() if value is not None}

    return DatasetResults(
        name=dataset,
        metrics=per_regime("metrics/{regime}.json", _read_json),
        robustness=read("robustness/summary.tsv", _read_tsv),
        structure=read("eps_structure/summary.json", _read_json),
        recovery=read("evaluation/recovery.tsv", _read_tsv),
        faithfulness=read("evaluation/faithfulness.tsv", _read_tsv),
        stability=read("evaluation/stability.tsv", _read_tsv),
        de_overlap=read("evaluation/de_overlap.tsv", _read_tsv),
        enrichment=per_regime("enrichment/{regime}.tsv", _read_tsv),
        enrichment_info=per_regime("enrichment/{regime}.json", _read_json),
        absent=tuple(absent),
    )


def _read_json(path: Path) -> dict:
    with open(path) as handle:
        return json.load(handle)


def _read_tsv(path: Path) -> pd.DataFrame:
    return read_table(path)


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
    ranking is NaN. Recovery is read from the ``all types`` rows. Repeated rows (seeds) are
    averaged. ``model_flag`` gives the reasons the regime's model was flagged as not worth
    explaining (:func:`scrobin.metrics.check_model`), empty when it was not.
    """
    tables = [_dataset_method_rows(dataset) for dataset in datasets]
    tables = [table for table in tables if len(table)]
    if not tables:
        return pd.DataFrame(columns=list(METHOD_TABLE_COLUMNS))
    return pd.concat(tables, ignore_index=True).reindex(columns=list(METHOD_TABLE_COLUMNS))


def _dataset_method_rows(dataset: DatasetResults) -> pd.DataFrame:
    keys = ["regime", "method"]
    parts = []
    if dataset.recovery is not None:
        rows = dataset.recovery[dataset.recovery["cell_type"].astype(str) == ALL_TYPES]
        parts.append(rows[keys + list(RECOVERY_COLUMNS)].rename(columns=RECOVERY_COLUMNS))
    if dataset.faithfulness is not None:
        parts.append(dataset.faithfulness.rename(columns={"ranking": "method"})[keys + list(FAITHFULNESS_COLUMNS)])
    if dataset.stability is not None:
        parts.append(dataset.stability[keys + list(STABILITY_COLUMNS)])
    if not parts:
        return pd.DataFrame(columns=list(METHOD_TABLE_COLUMNS))
    # The tables share no measure column, so averaging the stacked rows per key both joins them
    # (keeping first-seen order, which a merge would sort) and averages repeated seeds.
    merged = pd.concat(parts, ignore_index=True).groupby(keys, sort=False, as_index=False).mean(numeric_only=True)
    # Rankings only some tables have (random, DE) come last; keep each regime's rows together.
    regime_rank = {regime: rank for rank, regime in enumerate(dict.fromkeys(merged["regime"]))}
    merged = merged.sort_values("regime", key=lambda regimes: regimes.map(regime_rank), kind="stable")
    flags = merged["regime"].map(lambda regime: _model_flag(dataset.metrics.get(regime)))
    return merged.assign(dataset=dataset.name, **{MODEL_FLAG_COLUMN: flags})


def summary_table(
    datasets: Sequence[DatasetResults], regimes: Sequence[str], methods: Sequence[str], attack: Mapping
) -> pd.DataFrame:
    """One row per dataset and regime with the headline number of every stage.

    Parameters
    ----------
    datasets
        Loaded results, e.g. from :func:`load_dataset_results`.
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
        Columns: ``dataset``, ``regime``, clean ``accuracy`` and ``macro_f1``, the logistic
        baseline's on the same split (``logistic_accuracy``, ``logistic_macro_f1``), ``model_flag``
        (why the model is not worth explaining; empty when it is), ``attack_eps`` with
        ``attack_eps_source`` (``config``, ``eps_structure`` or ``none`` when auto found no budget),
        ``robust_eps|robust_accuracy|robust_macro_f1_<attack>`` per attack,
        ``largest_structured_eps`` (per dataset), ``key_genes_source`` (``simulation`` or
        ``markers: <file>``, what recovery scored against), the chance levels of key-gene recovery
        (``key_genes_top_n``, ``key_genes_expected``, ``key_genes_auprc_chance``), recovery,
        faithfulness and stability measures suffixed ``_consensus``, ``_methods_mean`` or ``_de``,
        ``de_overlap`` with its ``de_overlap_expected`` and ``de_overlap_p_value`` (all types), and
        ``enriched_terms`` with ``enrichment_backend``. NaN where a dataset has no such result.
    """
    rankings = method_table(datasets)
    rows = []
    for dataset in datasets:
        budget = _attack_budget(attack, dataset)
        for regime in regimes:
            ranking_rows = rankings[(rankings["dataset"] == dataset.name) & (rankings["regime"] == regime)]
            rows.append({
                "dataset": dataset.name,
                "regime": regime,
                **_clean_metrics(dataset.metrics.get(regime)),
                "attack_eps": budget["eps"],
                "attack_eps_source": budget["source"],
                **_robust_metrics(dataset.robustness, regime, budget["eps"]),
                "largest_structured_eps": _largest_structured_eps(dataset.structure),
                "key_genes_source": _key_genes_source(dataset.recovery),
                **_ranking_summary(ranking_rows, methods),
                **_de_overlap(dataset.de_overlap, regime),
                **_enrichment(dataset.enrichment.get(regime), dataset.enrichment_info.get(regime)),
            })
    return pd.DataFrame(rows)


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


def _enrichment(table: pd.DataFrame | None, info: dict | None) -> dict:
    return {
        # A table with no rows is a finished analysis that found nothing: zero terms, not NaN.
        "enriched_terms": math.nan if table is None else int(table["significant"].astype(bool).sum()),
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
        axis.bar(centres, rows[panel.bars], width, color=f"C{offset}", alpha=0.7, label=regime)
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
    results_dir: str | Path, datasets: Sequence[str], regimes: Sequence[str], methods: Sequence[str],
    attack: Mapping,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Load every dataset of a finished run and build both comparison tables.

    Returns
    -------
    summary, methods, absent
        :func:`summary_table`, :func:`method_table` and the paths that were not found.
    """
    if not datasets:
        raise ScrobinError("no datasets to compare: pass at least one dataset name")
    loaded = [load_dataset_results(results_dir, dataset, regimes) for dataset in datasets]
    absent = [path for dataset in loaded for path in dataset.absent]
    return summary_table(loaded, regimes, methods, attack), method_table(loaded), absent

