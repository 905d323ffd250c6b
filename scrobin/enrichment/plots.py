"""Figures of an enrichment table: a dot plot per cell type and a terms x cell types heatmap.

Both read only the common columns, so they draw either backend's table; both say which backend
answered (and why, on a fallback), and both still write a figure, one that says so, when no term
is significant, so a workflow's outputs exist and a reader sees "nothing" rather than a gap.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen before pyplot loads)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from scrobin.enrichment.table import NOT_TESTED  # noqa: E402
from scrobin.figures import save_figure  # noqa: E402

_LABEL_CHARS = 60
_SMALLEST_P = np.finfo(float).tiny  # p-values that underflow to 0 still get a finite bar


# Width of one character of an 8 pt tick label, inches (an average glyph is about half an em).
LABEL_INCHES_PER_CHARACTER = 0.06

def neg_log10(p_values: pd.Series | np.ndarray) -> np.ndarray:
    """-log10 of p-values, floored at the smallest float so an underflowed 0 stays plottable."""
    return -np.log10(np.clip(np.asarray(p_values, dtype=float), _SMALLEST_P, 1.0))


def term_labels(table: pd.DataFrame) -> pd.Series:
    """Readable term labels, ``name [source]``, shortened to fit an axis."""
    labels = table["term_name"].astype(str) + " [" + table["source"].astype(str) + "]"
    return labels.map(lambda label: label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…")


def term_matrix(table: pd.DataFrame, *, max_terms: int, queries: Sequence[str] | None = None) -> pd.DataFrame:
    """Terms x queries of -log10 adjusted p for significant results (NaN where not significant).

    Terms are picked round-robin over queries: every query's best term first, then every query's
    second best, and so on (ties by p-value), up to ``max_terms``. Ranking by the smallest p
    overall would let one cell type with a strong signal fill the whole figure. Rows are then
    grouped by the query where the term scores highest (in column order, strongest first), so the
    heatmap reads as blocks per cell type. Rows are indexed by ``term_id`` (names can repeat
    across sources); ``queries`` fixes the columns, so a cell type without any significant term
    still gets its (empty) column.
    """
    queries = list(queries) if queries is not None else list(dict.fromkeys(table["query"]))
    significant = table[table["significant"]]
    ranked = significant.assign(
        rank_in_query=significant.groupby("query")["p_value"].rank(method="first"),
        score=neg_log10(significant["p_value"]),
    )
    picking_order = ranked.sort_values(["rank_in_query", "p_value", "term_id"], kind="stable")["term_id"]
    top_terms = list(dict.fromkeys(picking_order))[:max_terms]
    matrix = ranked.pivot_table(index="term_id", columns="query", values="score", aggfunc="max")
    matrix = matrix.reindex(index=top_terms, columns=queries).astype(float)
    if matrix.empty:
        return matrix
    best_column = np.nanargmax(matrix.fillna(-np.inf).to_numpy(), axis=1)
    row_order = np.lexsort((-matrix.max(axis=1).to_numpy(), best_column))
    return matrix.iloc[row_order]


def plot_term_dots(table: pd.DataFrame, query: str, path: str | Path, *, max_terms: int = 20) -> Path:
    """Dot plot of one query's significant terms: -log10 adjusted p, dot size = intersection size.

    The best ``max_terms`` terms are drawn, most significant on top, coloured by source.
    """
    path = Path(path)
    rows = table[(table["query"] == query) & table["significant"]]
    rows = rows.sort_values(["p_value", "term_id"], kind="stable").head(max_terms)
    title = f"{query}: enriched terms{_backend_caption(table)}"
    if rows.empty:
        return _write_message_figure(path, title, _nothing_found(table, f"No significant terms for {query}."))

    term_names = term_labels(rows).tolist()
    width = max(8.5, 4.5 + LABEL_INCHES_PER_CHARACTER * max(map(len, term_names)))
    figure, axes = plt.subplots(figsize=(width, 1.6 + 0.32 * len(rows)), layout="constrained")
    positions = np.arange(len(rows))[::-1]
    scores = neg_log10(rows["p_value"])
    sizes = rows["intersection_size"].to_numpy()
    for source in sorted(rows["source"].unique()):
        in_source = (rows["source"] == source).to_numpy()
        axes.scatter(scores[in_source], positions[in_source], s=_dot_area(sizes[in_source]), label=source, alpha=0.85)
    axes.set_yticks(positions, term_names, fontsize=8)
    axes.set_xlabel("-log10 adjusted p-value")
    axes.set_xlim(0, scores.max() * 1.1)
    axes.set_title(title, fontsize=10)
    size_steps = sorted({int(sizes.min()), int(np.median(sizes)), int(sizes.max())})
    source_handles, source_labels = axes.get_legend_handles_labels()
    size_handles = [axes.scatter([], [], s=_dot_area(np.array([step])), color="grey") for step in size_steps]
    axes.legend(
        source_handles + size_handles,
        source_labels + [f"{step} genes" for step in size_steps],
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize=8,
        labelspacing=1.2,
    )
    return _save(figure, path)


def plot_term_heatmap(
    table: pd.DataFrame,
    path: str | Path,
    *,
    max_terms: int = 30,
    queries: Sequence[str] | None = None,
) -> Path:
    """Heatmap of the top terms x cell types, coloured by -log10 adjusted p (blank: not significant)."""
    path = Path(path)
    matrix = term_matrix(table, max_terms=max_terms, queries=queries)
    title = f"Enriched terms per cell type{_backend_caption(table)}"
    if matrix.empty or matrix.shape[0] == 0:
        return _write_message_figure(path, title, _nothing_found(table, "No significant terms in any cell type."))

    labels = term_labels(table.drop_duplicates("term_id").set_index("term_id").loc[matrix.index].reset_index())
    # Room for the longest term name (8 pt: about 0.06 in per character) beside the cells, or the
    # constrained layout collapses the axes and is dropped (matplotlib warns).
    width = 3.5 + 0.45 * matrix.shape[1] + LABEL_INCHES_PER_CHARACTER * max(map(len, labels), default=0)
    figure, axes = plt.subplots(figsize=(width, 1.8 + 0.3 * matrix.shape[0]), layout="constrained")
    image = axes.imshow(np.ma.masked_invalid(matrix.to_numpy()), aspect="auto", cmap="viridis")
    axes.set_xticks(np.arange(matrix.shape[1]), matrix.columns.tolist(), rotation=90, fontsize=8)
    axes.set_yticks(np.arange(matrix.shape[0]), labels.tolist(), fontsize=8)
    axes.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axes, label="-log10 adjusted p-value", shrink=0.8)
    return _save(figure, path)


def write_dot_plots(
    table: pd.DataFrame,
    out_dir: str | Path,
    *,
    queries: Sequence[str] | None = None,
    max_terms: int = 20,
    suffix: str = ".png",
) -> dict[str, Path]:
    """One dot plot per query into ``out_dir`` (file names made safe and unique); query -> path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    queries = list(queries) if queries is not None else list(dict.fromkeys(table["query"]))
    paths: dict[str, Path] = {}
    used_names: set[str] = set()
    for query in queries:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", query).strip("_.") or "query"
        name, copy_number = stem, 1
        while name in used_names:
            copy_number += 1
            name = f"{stem}_{copy_number}"
        used_names.add(name)
        paths[query] = plot_term_dots(table, query, out_dir / f"{name}{suffix}", max_terms=max_terms)
    return paths


def _dot_area(intersection_sizes: np.ndarray) -> np.ndarray:
    return 30.0 * intersection_sizes


def _backend_caption(table: pd.DataFrame) -> str:
    """A second title line naming the backend, and flagging a fallback (details are in the TSV)."""
    if table.empty:
        return ""
    if table["backend"].iloc[0] == "gprofiler":
        return "\ng:Profiler"
    fell_back = str(table["note"].iloc[0]).startswith("fallback")
    return "\noffline GMT (g:Profiler fallback)" if fell_back else "\noffline GMT"


def _nothing_found(table: pd.DataFrame, no_significant: str) -> str:
    """Why a figure is empty: nothing significant, or nothing could be tested at all."""
    if not table.empty and NOT_TESTED in str(table["note"].iloc[0]):
        return "No gene could be tested:\nthe genes are not in the gene sets (see the table's note)."
    return no_significant


def _write_message_figure(path: Path, title: str, message: str) -> Path:
    figure, axes = plt.subplots(figsize=(6, 2.5))
    axes.axis("off")
    axes.set_title(title, fontsize=10)
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, transform=axes.transAxes)
    return _save(figure, path)


def _save(figure: plt.Figure, path: Path) -> Path:
    save_figure(figure, path)  # tight: legends sit outside the axes
    plt.close(figure)
    return path
