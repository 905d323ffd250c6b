"""The enrichment table both backends produce, so nothing downstream asks which one ran.

One row is one (query, term) test result. Columns:

- ``query``: the gene list's name (a cell type).
- ``source``: annotation source in g:Profiler's codes (``GO:BP``, ``GO:CC``, ``REAC``, ``WP``, ...).
- ``term_id``: g:Profiler's native id (``GO:0006915``, ``REAC:R-HSA-109581``) or the GMT set name.
- ``term_name``: human-readable term name.
- ``p_value``: p-value adjusted by the run's significance method (what significance is judged on).
- ``p_value_raw``: the unadjusted hypergeometric p-value; NaN for g:Profiler, which reports only
  adjusted values.
- ``significant``: ``p_value <= threshold``.
- ``term_size``: genes of the term inside the statistical domain.
- ``query_size``: genes of the query inside the statistical domain.
- ``intersection_size``: genes in both.
- ``effective_domain_size``: size of the statistical domain (background genes annotated by the source).
- ``intersection``: the shared genes, comma-separated, in query order, spelled as in the query.
- ``backend``: ``gprofiler`` or ``gmt``.
- ``note``: empty, or why this backend ran (``fallback: <reason>`` when ``auto`` fell back), and
  a warning when few genes are in the gene sets. When none is, no gene could be tested: the table
  then has one row per query with empty term columns and a note starting ``no gene could be tested``.
"""

from __future__ import annotations

import pandas as pd

ENRICHMENT_COLUMNS: tuple[str, ...] = (
    "query",
    "source",
    "term_id",
    "term_name",
    "p_value",
    "p_value_raw",
    "significant",
    "term_size",
    "query_size",
    "intersection_size",
    "effective_domain_size",
    "intersection",
    "backend",
    "note",
)

_COLUMN_DTYPES = {
    "query": "object",
    "source": "object",
    "term_id": "object",
    "term_name": "object",
    "p_value": "float64",
    "p_value_raw": "float64",
    "significant": "bool",
    "term_size": "int64",
    "query_size": "int64",
    "intersection_size": "int64",
    "effective_domain_size": "int64",
    "intersection": "object",
    "backend": "object",
    "note": "object",
}


NOT_TESTED = "no gene could be tested"


def not_tested_rows(queries: list[str]) -> pd.DataFrame:
    """One row per query with nothing tested (no term, zero sizes), for a note to explain why."""
    return pd.DataFrame(
        {
            "query": queries,
            "source": "",
            "term_id": "",
            "term_name": "",
            "p_value": float("nan"),
            "p_value_raw": float("nan"),
            "significant": False,
            "term_size": 0,
            "query_size": 0,
            "intersection_size": 0,
            "effective_domain_size": 0,
            "intersection": "",
        }
    )


def finalize_table(rows: pd.DataFrame, backend: str, note: str = "") -> pd.DataFrame:
    """Give a backend's rows the common columns, dtypes and order.

    Rows are sorted by query, source and adjusted p-value so a TSV diff between runs shows real
    changes, not reordering. An empty input still yields every column, so an empty result writes
    a header-only TSV that later rules can read.
    """
    table = rows.assign(backend=backend, note=note)
    table = table.reindex(columns=list(ENRICHMENT_COLUMNS)).astype(_COLUMN_DTYPES)
    table = table.sort_values(["query", "source", "p_value", "term_id"], kind="stable")
    return table.reset_index(drop=True)

