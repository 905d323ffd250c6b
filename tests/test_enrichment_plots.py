"""Figures: the heatmap's matrix holds the right scores, and every figure is written, even when empty."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from scrobin.enrichment import ENRICHMENT_COLUMNS, plot_term_dots, plot_term_heatmap, term_matrix, write_dot_plots
from scrobin.enrichment.table import finalize_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_table(rows: list[tuple], note: str = "") -> pd.DataFrame:
    """A table in the common columns from (query, source, term_id, p_value, significant, k) rows."""
    records = [
        {
            "query": query,
            "source": source,
            "term_id": term_id,
            "term_name": f"name of {term_id}",
            "p_value": p_value,
            "p_value_raw": p_value / 10,
            "significant": significant,
            "term_size": 20,
            "query_size": 15,
            "intersection_size": intersection_size,
            "effective_domain_size": 2000,
            "intersection": ",".join(f"G{index}" for index in range(intersection_size)),
        }
        for query, source, term_id, p_value, significant, intersection_size in rows
    ]
    return finalize_table(pd.DataFrame.from_records(records), "gmt", note)


TABLE = make_table(
    [
        ("B cell", "REAC", "R1", 1e-6, True, 5),
        ("B cell", "REAC", "R2", 1e-3, True, 3),
        ("B cell", "GO:BP", "B1", 0.2, False, 1),
        ("T cell", "REAC", "R2", 1e-8, True, 6),
        ("T cell", "GO:BP", "B2", 0.04, True, 2),
        ("T cell", "GO:BP", "B3", 0.0, True, 9),  # underflowed p-value
    ],
    note="fallback: HTTP 503, after 4 attempt(s)",
)


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000


def test_term_matrix_holds_neg_log10_adjusted_p_of_the_best_terms():
    matrix = term_matrix(TABLE, max_terms=3, queries=["B cell", "T cell", "NK cell"])
    assert list(matrix.columns) == ["B cell", "T cell", "NK cell"]
    # picked round-robin: each query's best (T: B3, B: R1), then second best (R2 for both), B2 cut;
    # shown grouped by the column where each term scores highest (R1: B cell; B3, R2: T cell)
    assert list(matrix.index) == ["R1", "B3", "R2"]
    assert list(term_matrix(TABLE, max_terms=2).index) == ["R1", "B3"]  # B cell keeps a row
    assert matrix.loc["R2", "T cell"] == pytest.approx(8.0)
    assert matrix.loc["R2", "B cell"] == pytest.approx(3.0)
    assert np.isnan(matrix.loc["R1", "T cell"]) and matrix["NK cell"].isna().all()
    assert np.isfinite(matrix.loc["B3", "T cell"]) and matrix.loc["B3", "T cell"] > 300


def test_term_matrix_ignores_non_significant_terms():
    matrix = term_matrix(TABLE, max_terms=10)
    assert "B1" not in matrix.index and len(matrix) == 4


def test_figures_are_written(tmp_path):
    assert_png(plot_term_dots(TABLE, "T cell", tmp_path / "dots.png"))
    assert_png(plot_term_heatmap(TABLE, tmp_path / "heatmap.png"))
    svg = plot_term_heatmap(TABLE, tmp_path / "heatmap.svg").read_text()
    assert "<svg" in svg and "fallback" in svg


def test_empty_results_still_give_a_figure_that_says_so(tmp_path):
    nothing = make_table([("B cell", "REAC", "R1", 0.5, False, 1)])
    svg = plot_term_dots(nothing, "B cell", tmp_path / "dots.svg").read_text()
    assert "No significant terms for B cell" in svg
    svg = plot_term_heatmap(nothing, tmp_path / "heatmap.svg").read_text()
    assert "No significant terms in any cell type" in svg
    empty = finalize_table(pd.DataFrame(columns=list(ENRICHMENT_COLUMNS)), "gprofiler")
    assert_png(plot_term_heatmap(empty, tmp_path / "empty.png", queries=["B cell"]))


def test_dot_plots_one_file_per_query_with_safe_unique_names(tmp_path):
    paths = write_dot_plots(TABLE, tmp_path / "dots", queries=["B cell", "T cell", "B/cell", "NK cell"])
    names = [path.name for path in paths.values()]
    assert names == ["B_cell.png", "T_cell.png", "B_cell_2.png", "NK_cell.png"]
    for path in paths.values():
        assert_png(path)


def test_long_term_names_keep_the_constrained_layout(tmp_path):
    # Reactome and WikiPathways names run to 60 characters; the figures widen for them instead of
    # letting matplotlib drop the layout ("axes sizes collapsed to zero").
    table = make_table([("B cell", "REAC", f"R{index}", 10.0 ** -(index + 2), True, 4) for index in range(29)])
    table["term_name"] = [f"{'SIGNALING BY A VERY LONG PATHWAY NAME ' * 2}{index}" for index in range(29)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_png(plot_term_heatmap(table, tmp_path / "heatmap.png"))
        assert_png(plot_term_dots(table, "B cell", tmp_path / "dots.png"))
