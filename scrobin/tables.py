"""The workflow's TSV tables: one writer and one reader, so names stay text through a round trip.

Cell types and genes are names, whatever they look like: plain ``sc.tl.leiden`` output labels
cells ``'0'``, ``'1'``, ...; Entrez gene ids are digits; a label may read ``True`` or ``NA``.
``pandas.read_csv`` would turn those into integers, booleans or NaN, and a later join on the name
would then miss. Every table a rule writes and another rule reads goes through ``write_table`` and
``read_table``: the columns in ``TEXT_COLUMNS`` come back exactly as written (an empty cell is the
empty string, never NaN); every other column is parsed as usual (numbers, booleans, empty = NaN).
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from scrobin.errors import ScrobinError

# var column of prepared.h5ad with each gene's display symbol, when the dataset sets gene_symbols.
GENE_SYMBOL_COLUMN = "gene_symbol"

# Columns that hold names (cell types, genes, methods, regimes, terms...), never numbers.
TEXT_COLUMNS = frozenset(
    {
        "cell_type",
        "gene",
        "gene_symbol",
        "methods",
        "method",
        "regime",
        "model",
        "dataset",
        "ranking",
        "mode",
        "query",
        "source",
        "term_id",
        "term_name",
        "intersection",
        "backend",
        "note",
        "class",
        "split",
        "baseline",
        "test_split",
        "strongest_baseline",
        "check",
        "step",
        "verdict",
        "sanity_verdict",
    }
)


# What pandas writes or reads for a missing number; a text column keeps these spellings as names
# (and a cell-type label spelled so is refused as missing, scrobin.data.checks.missing_label_mask).
MISSING_SPELLINGS = frozenset({"NaN", "nan", "NA", "N/A", "<NA>", "null", "None"})


def write_table(table: pd.DataFrame, path: str | Path) -> None:
    """Write ``table`` as a TSV with a header and no index (missing numbers as empty cells)."""
    table.to_csv(path, sep="\t", index=False)


# The table view's look: readable at a glance in the report's pane, wide tables scroll sideways.
_VIEW_STYLE = """
body { font: 13px/1.4 system-ui, sans-serif; margin: 12px; color: #1f2937; }
h1 { font-size: 15px; margin: 0 0 4px; } p { margin: 0 0 8px; max-width: 70em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; white-space: nowrap; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 3px 8px; text-align: right; }
th { background: #f3f4f6; position: sticky; top: 0; }
td.text, th.text { text-align: left; }
tr:hover td { background: #f9fafb; }
"""


def write_table_view(table: pd.DataFrame, path: str | Path, title: str, note: str = "") -> None:
    """Write ``table`` as a self-contained HTML page: the report shows it, where a TSV can only be downloaded.

    Numbers show four significant digits and a missing value an empty cell; text columns keep
    their names exactly. The page carries the table's TSV (``write_table``'s content) as a download
    link, so nothing of the table is lost by viewing it.

    Parameters
    ----------
    table
        The table, as written to its TSV.
    path
        The ``.html`` file.
    title, note
        Heading and one paragraph under it (what a row is, what to read first).
    """
    text_columns = [column for column in table.columns if not pd.api.types.is_numeric_dtype(table[column])]
    shown = table.copy()
    for column in shown.columns:
        if column in text_columns:
            shown[column] = shown[column].map(lambda value: "" if pd.isna(value) else str(value))
        elif pd.api.types.is_bool_dtype(shown[column]):
            shown[column] = shown[column].map(str)
        else:
            shown[column] = shown[column].map(lambda value: "" if pd.isna(value) else f"{value:.4g}")
    rows = "".join(
        "<tr>" + "".join(f'<td class="{"text" if column in text_columns else "number"}">{html.escape(value)}</td>'
                         for column, value in zip(shown.columns, record)) + "</tr>"
        for record in shown.itertuples(index=False)
    )
    header = "".join(f'<th class="{"text" if column in text_columns else "number"}">{html.escape(str(column))}</th>'
                     for column in shown.columns)
    tsv = base64.b64encode(table.to_csv(sep="\t", index=False).encode()).decode()
    name = html.escape(Path(path).with_suffix(".tsv").name)
    page = (
        f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
        f"<style>{_VIEW_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        + (f"<p>{html.escape(note)}</p>" if note else "")
        + f'<p>{len(table)} rows. <a download="{name}" href="data:text/tab-separated-values;base64,{tsv}">Download as TSV</a></p>'
        f'<div class="scroll"><table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table></div></body></html>'
    )
    Path(path).write_text(page)


def write_reported_table(table: pd.DataFrame, path: str | Path, view_path: str | Path, title: str,
                         note: str = "") -> None:
    """Write a table the report shows: its TSV (``write_table``, for later rules and spreadsheets)
    and its HTML view (:func:`write_table_view`, what the report displays)."""
    write_table(table, path)
    write_table_view(table, view_path, title, note)


def write_json(value, path: str | Path) -> None:
    """Write ``value`` (a JSON-ready dict: a rule's summary or metrics) indented, for people and later rules."""
    with open(path, "w") as handle:
        json.dump(value, handle, indent=2)


def read_table(path: str | Path, all_text: bool = False, index_col: int | None = None) -> pd.DataFrame:
    """Read a TSV written by ``write_table`` (or a user's TSV of names), keeping names as text.

    Parameters
    ----------
    path
        The TSV file; its first line is the header.
    all_text
        Read every column as text (e.g. a labels file of cell names and labels); an empty cell
        is then NaN, so a missing label stays detectable.
    index_col
        Position of the column to use as the index (kept as text like the others), or None.

    Returns
    -------
    pandas.DataFrame
        Columns of ``TEXT_COLUMNS`` (or all columns with ``all_text``) as ``str`` (object dtype),
        exactly as in the file; the others with their parsed dtypes.
    """
    header = pd.read_csv(path, sep="\t", nrows=0).columns
    if all_text:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=[""])
    else:
        text = [column for column in header if column in TEXT_COLUMNS]
        table = pd.read_csv(
            path,
            sep="\t",
            dtype={column: str for column in text},
            keep_default_na=False,
            na_values={column: [""] + sorted(MISSING_SPELLINGS) for column in header if column not in text},
        )
    # Set here rather than by read_csv, which parses an index column's digits as numbers.
    return table if index_col is None else table.set_index(header[index_col])


def concatenated_tables(paths: Iterable[str | Path], dataset: str | None = None) -> pd.DataFrame:
    """The tables at ``paths`` (each written by ``write_table``) stacked in order.

    Parameters
    ----------
    paths
        Tables with the same columns, e.g. one per replicate seed and regime.
    dataset
        Written to a leading ``dataset`` column, so summaries of several datasets stay
        self-describing when they are stacked again (the comparison does).

    Returns
    -------
    pandas.DataFrame
        The rows of every table, with a fresh index.
    """
    table = pd.concat([read_table(path) for path in paths], ignore_index=True)
    if "seed" in table and table["seed"].isna().any():
        # Rows of no replicate (the logistic baseline's) would otherwise turn every seed into a float.
        table["seed"] = table["seed"].astype("Int64")
    if dataset is not None:
        table.insert(0, "dataset", dataset)
    return table


def with_labels(table: pd.DataFrame, **labels) -> pd.DataFrame:
    """``table`` with leading columns that say what it holds (e.g. ``seed``, ``regime``, ``method``).

    A table that names its replicate, regime and method can be read back without decoding its
    path (:func:`labels_of`) and stacked with others without losing track of its rows.
    """
    labelled = table.copy()
    for position, (column, value) in enumerate(labels.items()):
        labelled.insert(position, column, value)
    return labelled


def labels_of(table: pd.DataFrame, *columns: str) -> tuple:
    """The single value of each of ``columns`` in ``table`` (written by :func:`with_labels`).

    Raises
    ------
    ScrobinError
        When a column is missing or holds more than one value.
    """
    values = []
    for column in columns:
        distinct = table[column].unique() if column in table else []
        if len(distinct) != 1:
            raise ScrobinError(f"table has {'no' if column not in table else len(distinct)} '{column}' "
                               f"value(s), expected one: pass a table the workflow labelled")
        values.append(distinct[0].item() if hasattr(distinct[0], "item") else distinct[0])
    return tuple(values)


def tables_by_labels(paths: Iterable[str | Path], by: Sequence[str], key: str) -> dict:
    """Tables written by :func:`with_labels`, grouped by their labels: ``{group: {key label: table}}``.

    ``group`` is the value of the single column in ``by``, or the tuple of values when ``by`` names
    several (as :func:`labels_of` returns them). The workflow's jobs group each replicate's
    importance tables by regime (and seed) this way, keyed by method.
    """
    grouped: dict = {}
    for path in paths:
        table = read_table(path)
        group = labels_of(table, *by)
        (name,) = labels_of(table, key)
        grouped.setdefault(group if len(by) > 1 else group[0], {})[name] = table
    return grouped


def gene_labels(var: pd.DataFrame, unique: bool = False) -> pd.Series:
    """Each gene's display name (``var[GENE_SYMBOL_COLUMN]`` when set, else its var_name), by var_name.

    Parameters
    ----------
    var
        ``var`` of a prepared AnnData (genes x annotations).
    unique
        Append the var_name to a symbol that several genes share (``'TBCE (ENSG...)'``), for
        figure axes and tables where a label must point at one gene.

    Returns
    -------
    pandas.Series
        Index: var_names; values: labels (str).
    """
    names = pd.Index(var.index.astype(str))
    if GENE_SYMBOL_COLUMN not in var.columns:
        return pd.Series(names, index=names)
    labels = pd.Series(var[GENE_SYMBOL_COLUMN].astype(str).to_numpy(), index=names)
    if unique:
        shared = labels.duplicated(keep=False).to_numpy()
        labels[shared] = labels[shared] + " (" + names[shared] + ")"
    return labels


def with_gene_symbols(table: pd.DataFrame, var: pd.DataFrame) -> pd.DataFrame:
    """``table`` with a ``gene_symbol`` column (the display name, see ``gene_labels``) after ``gene``.

    Ranking tables key on the model's genes (``var_names``, e.g. Ensembl ids); the symbol beside
    each lets a reader see which gene it is without a lookup.
    """
    labels = gene_labels(var, unique=True)
    table = table.drop(columns=[GENE_SYMBOL_COLUMN], errors="ignore")
    table.insert(table.columns.get_loc("gene") + 1, GENE_SYMBOL_COLUMN, labels[table["gene"]].to_numpy())
    return table
