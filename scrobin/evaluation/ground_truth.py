"""Key-gene recovery, always next to what chance would give.

The key genes are the simulator's truth for simulated data, or for real data the known markers the
dataset's ``markers:`` file names (:mod:`scrobin.data.markers`); both are scored the same way.

The published Fig. 2 counted key genes in the top 500 of 1,200 genes without a baseline; its counts
were below what a random ranking recovers. Here every count comes with the hypergeometric
expectation ``N * K / G`` and upper-tail p-value (drawing ``N`` of ``G`` genes at random, ``K`` of
them key genes), plus threshold-free scores from the full ranking: precision@N, recall@N and the
area under the precision-recall curve (average precision), whose chance level is ``K / G``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from scrobin.contract import GROUND_TRUTH_KEY, SCROBIN_KEY
from scrobin.errors import ScrobinError
from scrobin.validators import require_positive_int
from scrobin.attribution.importance import ranked_genes
from scrobin.data.gene_names import resolve_gene_names, unmatched_message
from scrobin.data.markers import marker_coverage, marker_genes, markers_as_var_names, read_markers
from scrobin.tables import GENE_SYMBOL_COLUMN

ALL_TYPES = "all types"


def key_genes_from_anndata(adata) -> dict[str, list[str]]:
    """The simulation's key genes per cell type, stored in ``uns["ground_truth"]["key_genes"]``."""
    truth = adata.uns.get(GROUND_TRUTH_KEY, {}).get("key_genes")
    if truth is None:
        raise ScrobinError("AnnData has no uns['ground_truth']['key_genes']: key-gene recovery "
                           "needs simulated data (source: simulate)")
    return {str(cell_type): [str(gene) for gene in genes] for cell_type, genes in truth.items()}


class RecoveryReference(NamedTuple):
    """What :func:`recovery_reference` returns: the key genes, where they come from, and notes."""

    key_genes: dict[str, list[str]]
    """Cell type -> key genes, restricted to the model's cell types (a marker type dropped as rare is
    not scored); marker genes outside the model's genes are kept (recovery counts only ranked ones)."""
    source: str
    """``"simulation"`` or ``"markers: <file name>"``."""
    notes: list[str]
    """Log lines from :func:`scrobin.data.markers.marker_coverage` (genes outside the model, types not
    scored); empty for a simulation."""
    n_given: dict[str, int]
    """Cell type -> number of distinct key genes given for it before gene selection: the markers
    file's, or the simulation's (those kept plus ``key_genes_not_selected``)."""


def recovery_reference(prepared, markers_path: str | Path | None = None) -> RecoveryReference:
    """The key genes a dataset's rankings are scored against, where they come from, and notes.

    Parameters
    ----------
    prepared
        The dataset's ``prepared.h5ad``: its genes and the labels in the obs column named by
        ``uns["scrobin"]["label_key"]`` are the model's.
    markers_path
        The dataset's markers file; ``None`` reads the simulation's truth from ``uns``. Its genes
        are matched onto the model's ``var_names`` through the symbols the prepared data keeps
        (``var["gene_symbol"]``) and case where conventions differ
        (:func:`scrobin.data.gene_names.resolve_gene_names`, as the pre-job check does).

    Returns
    -------
    RecoveryReference
        ``key_genes`` (cell type -> key genes as ``var_names``, markers outside the model's genes
        left out, restricted to the model's cell types: a marker type dropped as rare is not
        scored), ``source`` (``"simulation"`` or ``"markers: <file name>"``), ``notes`` (log lines
        from :func:`scrobin.data.markers.marker_coverage`: genes outside the model, types not
        scored) and ``n_given`` (key genes given per type, before gene selection); pass
        ``n_given`` to :func:`recovery_table` so every row says how many key genes were given next
        to how many the model ranks.

    Raises
    ------
    ScrobinError
        When there is no truth (no markers file and not simulated), the markers file cannot be
        parsed, none of its cell types is among the model's, or a marker names several genes.
    """
    if markers_path is None:
        truth = key_genes_from_anndata(prepared)
        not_selected = prepared.uns[GROUND_TRUTH_KEY].get("key_genes_not_selected", {})
        n_given = {cell_type: len(set(genes)) + int(not_selected.get(cell_type, 0))
                   for cell_type, genes in truth.items()}
        return RecoveryReference(truth, "simulation", [], n_given)
    markers = read_markers(markers_path)
    labels = prepared.obs[prepared.uns[SCROBIN_KEY]["label_key"]]
    cell_types = list(labels.astype("category").cat.categories.astype(str))
    if not any(cell_type in cell_types for cell_type in markers):
        raise ScrobinError(f"markers file '{markers_path}' names none of the model's cell types "
                           f"({', '.join(cell_types)}): name at least one of them")
    symbols = GENE_SYMBOL_COLUMN if GENE_SYMBOL_COLUMN in prepared.var.columns else None
    match = resolve_gene_names(marker_genes(markers), prepared.var, symbols)
    if match.ambiguous:
        dataset = prepared.uns[SCROBIN_KEY].get("dataset", "?")
        raise ScrobinError(unmatched_message(match, "markers", dataset, prepared.var, symbols, ""))
    resolved = markers_as_var_names(markers, match)
    scored = {cell_type: resolved[cell_type] for cell_type in markers if cell_type in cell_types}
    notes = marker_coverage(markers, match.var_names, cell_types, n_genes=prepared.n_vars)
    n_given = {cell_type: len(set(markers[cell_type])) for cell_type in scored}
    return RecoveryReference(scored, f"markers: {Path(markers_path).name}", notes, n_given)


def average_precision(is_key_in_rank_order: np.ndarray) -> float:
    """Area under the precision-recall curve of a ranking: mean precision at each key gene."""
    hits = np.asarray(is_key_in_rank_order, dtype=bool)
    if not hits.any():
        return 0.0
    precision_at_hit = np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)
    return float(precision_at_hit.mean())


def overlap_statistics(ordered_genes: np.ndarray, reference_genes: Sequence[str],
                       top_n: int) -> dict:
    """How many reference genes a ranking puts in its top ``top_n``, against a random ranking.

    Parameters
    ----------
    ordered_genes
        The ranking's genes, most important first; they are the gene universe ``G``.
    reference_genes
        Genes that should rank high (key genes, DE genes); those outside the universe are ignored.
    top_n
        Length of the list compared (capped at ``G``).

    Returns
    -------
    dict
        ``n_genes, n_key_genes, top_n, recovered, expected, p_value, precision_at_n, recall_at_n,
        auprc, auprc_chance``; recall and AUPRC are NaN when no reference gene is ranked.
    """
    from scipy import stats  # here, not at the top: importing scipy.stats costs ~0.9 CPU s, and jobs
    # that only need ALL_TYPES (consensus, evaluation figures) import this module too

    is_key = np.isin(ordered_genes, np.asarray(list(reference_genes), dtype=object))
    n_genes, n_key = len(ordered_genes), int(is_key.sum())
    drawn = min(top_n, n_genes)
    recovered = int(is_key[:drawn].sum())
    return {
        "n_genes": n_genes,
        "n_key_genes": n_key,
        "top_n": drawn,
        "recovered": recovered,
        "expected": drawn * n_key / n_genes,
        "p_value": float(stats.hypergeom.sf(recovered - 1, n_genes, n_key, drawn)),
        "precision_at_n": recovered / drawn,
        "recall_at_n": recovered / n_key if n_key else np.nan,
        "auprc": average_precision(is_key) if n_key else np.nan,
        "auprc_chance": n_key / n_genes,
    }


def combined_overlap(type_rows: Sequence[dict]) -> dict:
    """``overlap_statistics`` summed over cell types, labelled ``all types``.

    The p-value is exact for the total under independent random rankings per type: the null
    distribution is the convolution of the types' hypergeometric distributions. AUPRC is averaged
    over the types that have reference genes.
    """
    from scipy import stats  # lazily, as in overlap_statistics

    recovered = sum(row["recovered"] for row in type_rows)
    null_distribution = np.ones(1)
    for row in type_rows:
        support = np.arange(row["top_n"] + 1)
        null_distribution = np.convolve(null_distribution, stats.hypergeom.pmf(
            support, row["n_genes"], row["n_key_genes"], row["top_n"]))
    drawn = sum(row["top_n"] for row in type_rows)
    n_key = sum(row["n_key_genes"] for row in type_rows)
    with_reference = [row for row in type_rows if row["n_key_genes"] > 0]
    return {
        "cell_type": ALL_TYPES,
        "n_genes": type_rows[0]["n_genes"],
        "n_key_genes": n_key,
        "top_n": drawn,
        "recovered": recovered,
        "expected": sum(row["expected"] for row in type_rows),
        "p_value": float(np.clip(null_distribution[recovered:].sum(), 0.0, 1.0)),
        "precision_at_n": recovered / drawn,
        "recall_at_n": recovered / n_key if n_key else np.nan,
        "auprc": float(np.mean([row["auprc"] for row in with_reference])) if with_reference
        else np.nan,
        "auprc_chance": float(np.mean([row["auprc_chance"] for row in type_rows])),
    }


def recovery_table(rankings: Mapping[str, pd.DataFrame], truth: Mapping[str, Sequence[str]],
                   top_n: int = 20, regime: str | None = None, source: str | None = None,
                   n_given: Mapping[str, int] | None = None) -> pd.DataFrame:
    """Key genes recovered per method and cell type, with chance expectation and p-value.

    Parameters
    ----------
    rankings
        Method name -> importance table (``cell_type_importance``) or consensus table
        (``consensus_ranking``); include the consensus under its own name to rank it alongside.
    truth
        Cell type -> key genes (``recovery_reference``). Types of a ranking without truth are
        skipped; key genes absent from a ranking (removed by gene selection) are not counted:
        ``n_key_genes`` counts the ranked ones, and a type left with none gets recovered 0,
        p-value 1 and NaN recall and AUPRC.
    top_n
        Size of the list in which recovered key genes are counted.
    regime
        Training regime (standard, fgsm, pgd) written to a leading ``regime`` column, so tables of
        several regimes can be concatenated and plotted together.
    source
        Where the key genes come from (``recovery_reference``), written to a ``key_genes_source``
        column after ``regime`` so a reader of any row knows what was recovered.
    n_given
        Cell type -> key genes given before gene selection (``recovery_reference``'s ``n_given``);
        default: the distinct genes of ``truth`` per type, right when ``truth`` was not restricted
        to the model's genes (a markers file) and too low when it was (a simulation's truth).

    Returns
    -------
    pandas.DataFrame
        One row per method and cell type plus an ``all types`` row per method, columns
        ``method, cell_type, n_genes, n_key_genes_given, n_key_genes, top_n, recovered, expected,
        p_value, precision_at_n, recall_at_n, auprc, auprc_chance``: ``n_key_genes_given`` the key
        genes named for the type, ``n_key_genes`` those among the ranked genes (the denominator of
        recall and the chance level; the rest the model never saw). The summary row sums counts and
        expectations, gives the exact p-value of the total under independent random rankings, and
        averages AUPRC over types.

    Raises
    ------
    ScrobinError
        When no ranking or no truth is given, a ranking lacks a type of the truth, or ``n_given``
        lacks a type or gives fewer genes than ``truth`` names for it.
    """
    require_positive_int(top_n, "recovery top_n")
    if not rankings:
        raise ScrobinError("no rankings were given: pass a dict method -> importance table")
    if not truth:
        raise ScrobinError("the ground truth names no cell type: pass cell type -> key genes")
    given = _given_counts(truth, n_given)
    rows = []
    for method, table in rankings.items():
        ordered_by_type = ranked_genes(table)
        unknown = [cell_type for cell_type in truth if cell_type not in ordered_by_type]
        if unknown:
            raise ScrobinError(f"ranking '{method}' has no cell type '{unknown[0]}' of the key genes: "
                               f"rank the same cell types the key genes are given for")
        type_rows = []
        for cell_type, key_genes in truth.items():
            type_rows.append({"cell_type": cell_type,
                              **overlap_statistics(ordered_by_type[cell_type], key_genes, top_n)})
        summary = combined_overlap(type_rows)
        for row in type_rows:
            row["n_key_genes_given"] = given[row["cell_type"]]
        summary["n_key_genes_given"] = sum(given.values())
        rows += [{"method": method, **row} for row in (*type_rows, summary)]
    table = pd.DataFrame(rows)
    columns = list(table.columns.drop("n_key_genes_given"))
    columns.insert(columns.index("n_key_genes"), "n_key_genes_given")
    table = table.loc[:, columns]
    if source is not None:
        table.insert(0, "key_genes_source", source)
    if regime is not None:
        table.insert(0, "regime", regime)
    return table


def _given_counts(truth: Mapping[str, Sequence[str]], n_given: Mapping[str, int] | None) -> dict[str, int]:
    """Key genes given per type: ``n_given``'s, checked against ``truth``, or counted from it."""
    counted = {cell_type: len(set(genes)) for cell_type, genes in truth.items()}
    if n_given is None:
        return counted
    for cell_type, count in counted.items():
        if cell_type not in n_given:
            raise ScrobinError(f"n_given has no count for cell type '{cell_type}': pass recovery_reference's n_given")
        if n_given[cell_type] < count:
            raise ScrobinError(f"n_given says {n_given[cell_type]} key genes were given for '{cell_type}' but the "
                               f"truth names {count}: pass the n_given of the same recovery_reference")
    return {cell_type: int(n_given[cell_type]) for cell_type in truth}
