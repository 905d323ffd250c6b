"""The finished tables of a run, read once and sorted by dataset: what the comparison stands on.

Every file the compare rule names says what it holds (a ``dataset`` column or key, and ``seed``
and ``regime`` for a replicate's results), so no path is decoded. A table the run did not make
(recovery for real data without a markers file, enrichment for simulated data) is ``None``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from scrobin.errors import ScrobinError
from scrobin.tables import read_table


# The named inputs of the compare rule, each a list of files.
INPUT_KINDS = ("metrics", "robustness", "structure", "recovery", "faithfulness", "stability", "de_overlap",
               "enrichment", "celltypist", "queries", "sanity", "consensus", "radius")
# Kinds that are per-dataset summary tables with a ``dataset`` column, and JSON files with a
# ``dataset`` key.
TABLE_KINDS = ("robustness", "recovery", "faithfulness", "stability", "de_overlap", "queries", "sanity", "consensus",
               "radius")
JSON_KINDS = ("metrics", "structure", "enrichment", "celltypist")


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
    celltypist: dict | None = None  # the celltypist rule's metrics (test, queries)
    queries: pd.DataFrame | None = None  # every replicate's query scores (seed, regime, query)
    sanity: pd.DataFrame | None = None  # every replicate's sanity checks (seed, regime, method)
    consensus: pd.DataFrame | None = None  # every replicate's consensus tables (seed, regime, cell type, gene)
    radius: pd.DataFrame | None = None  # certified radius per regime and cell type (replicates pooled)

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
            return table[same_seed(table["seed"], seed)]

        def keyed(values: dict) -> dict:
            return {key: value for key, value in values.items() if key[0] == seed}

        return replace(
            self, metrics=keyed(self.metrics), robustness=rows(self.robustness), recovery=rows(self.recovery),
            faithfulness=rows(self.faithfulness), stability=rows(self.stability), de_overlap=rows(self.de_overlap),
            enrichment=keyed(self.enrichment), queries=rows(self.queries), sanity=rows(self.sanity),
            consensus=rows(self.consensus),
        )


def load_results(inputs: Mapping[str, Iterable[str | Path]], datasets: Sequence[str]) -> list[DatasetResults]:
    """Read the compare rule's inputs and sort them by the dataset each file names.

    Parameters
    ----------
    inputs
        Kind (one of ``INPUT_KINDS``) -> files. ``metrics`` are the train rule's JSON files and
        ``enrichment`` the enrich rule's JSON files (keys ``dataset``, ``regime``, ``seed``);
        ``structure`` the eps_structure summaries and ``celltypist`` the celltypist rule's metrics
        (key ``dataset``); the other kinds are tables with a ``dataset`` column (``queries`` one
        per replicate and query). A kind may be missing or empty.
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
    jsons = {kind: [_read_json(path) for path in inputs.get(kind, ())] for kind in JSON_KINDS}
    tables = {kind: _stacked([read_table(path) for path in inputs.get(kind, ())]) for kind in TABLE_KINDS}
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

    def one(kind: str, name: str) -> dict | None:
        return next((content for content in jsons[kind] if content["dataset"] == name), None)

    return [
        DatasetResults(
            name=name,
            metrics=keyed("metrics", name),
            robustness=of(tables["robustness"], name),
            structure=one("structure", name),
            recovery=of(tables["recovery"], name),
            faithfulness=of(tables["faithfulness"], name),
            stability=of(tables["stability"], name),
            de_overlap=of(tables["de_overlap"], name),
            enrichment=keyed("enrichment", name),
            celltypist=one("celltypist", name),
            queries=of(tables["queries"], name),
            sanity=of(tables["sanity"], name),
            consensus=of(tables["consensus"], name),
            radius=of(tables["radius"], name),
        )
        for name in datasets
    ]


def _stacked(tables: list[pd.DataFrame]) -> pd.DataFrame | None:
    """The tables of one kind stacked (an unlabelled query's empty score table adds no row)."""
    tables = [table for table in tables if len(table)]
    return pd.concat(tables, ignore_index=True) if tables else None


def _read_json(path: str | Path) -> dict:
    with open(path) as handle:
        return json.load(handle)


def same_seed(seeds: pd.Series, seed: float) -> pd.Series:
    """Rows of replicate ``seed``; rows of a table without seeds (NaN) belong to every replicate."""
    return seeds.isna() | (seeds == seed)


def lacking(dataset: DatasetResults) -> list[str]:
    """The kinds of result (``INPUT_KINDS``) this run did not make for ``dataset``."""
    present = {
        "metrics": dataset.metrics, "robustness": dataset.robustness is not None,
        "structure": dataset.structure is not None, "recovery": dataset.recovery is not None,
        "faithfulness": dataset.faithfulness is not None, "stability": dataset.stability is not None,
        "de_overlap": dataset.de_overlap is not None, "enrichment": dataset.enrichment,
        "celltypist": dataset.celltypist is not None, "queries": dataset.queries is not None,
        "sanity": dataset.sanity is not None, "consensus": dataset.consensus is not None,
        "radius": dataset.radius is not None,
    }
    return [kind for kind, found in present.items() if not found]
