"""Known marker genes of real data: the reference that key-gene recovery scores rankings against.

Simulated data carry their truth (the simulator's key genes); for real data the user names a file
of genes known for each cell type with the dataset option ``markers:``. Three formats are read,
chosen by the file's suffix, and all give the same mapping cell type -> genes:

- ``.json``: one object ``{"cell type": ["GENE1", "GENE2", ...], ...}``;
- ``.tsv`` or ``.txt``: tab-separated with a header that has the columns ``cell_type`` and ``gene``
  (one gene per row; further columns such as ``source`` are ignored);
- ``.gmt``: one line per cell type, ``name<TAB>description<TAB>GENE1<TAB>GENE2...``, the set's
  name being the cell type (as in MSigDB gene-set files).

Genes keep the file's order; a gene listed twice for one type counts once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from scrobin.data.gene_names import GeneMatch, alternative, listing, resolve_gene_names, unmatched_message, verb
from scrobin.errors import ScrobinError

TYPE_COLUMN = "cell_type"
GENE_COLUMN = "gene"
FORMATS = {".json": "json", ".tsv": "tsv", ".txt": "tsv", ".gmt": "gmt"}


def read_markers(path: str | Path) -> dict[str, list[str]]:
    """Read a marker file (JSON, TSV or GMT, by suffix) into cell type -> marker genes.

    Parameters
    ----------
    path
        The file. Format by suffix: ``.json``, ``.tsv``/``.txt`` (header with ``cell_type`` and
        ``gene`` columns) or ``.gmt``.

    Returns
    -------
    dict
        Cell type -> genes (strings, file order, duplicates removed), types in file order.

    Raises
    ------
    ScrobinError
        When the suffix is none of the above or the file cannot be parsed: one line naming the
        file, what is wrong and the expected layout.
    """
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ScrobinError(f"markers file '{path}' has suffix '{path.suffix}': use .json (type -> genes), "
                           f".tsv/.txt (columns {TYPE_COLUMN}, {GENE_COLUMN}) or .gmt (set name = cell type)")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ScrobinError(f"markers file '{path}' cannot be read ({error}): fix the path or the file") from None
    pairs = {"json": _json_pairs, "tsv": _tsv_pairs, "gmt": _gmt_pairs}[kind](text, path)
    markers: dict[str, list[str]] = {}
    for cell_type, gene in pairs:
        if not cell_type or not gene:
            raise ScrobinError(f"markers file '{path}' has an empty cell type or gene name "
                               f"(type '{cell_type}', gene '{gene}'): fill it in or remove it")
        genes = markers.setdefault(cell_type, [])
        if gene not in genes:
            genes.append(gene)
    if not markers:
        raise ScrobinError(f"markers file '{path}' names no cell type: give at least one type with its genes")
    return markers


def _json_pairs(text: str, path: Path) -> list[tuple[str, str]]:
    try:
        content = json.loads(text)
    except json.JSONDecodeError as error:
        raise ScrobinError(f"markers file '{path}' is not valid JSON ({error}): write one object "
                           f'{{"cell type": ["GENE", ...]}}') from None
    if not isinstance(content, dict) or not all(
        isinstance(genes, list) and all(isinstance(gene, str) for gene in genes) for genes in content.values()
    ):
        raise ScrobinError(f"markers file '{path}' must hold one JSON object mapping each cell type to a list "
                           f'of gene names, e.g. {{"B cell": ["MS4A1", "CD79A"]}}')
    return [(cell_type.strip(), gene.strip()) for cell_type, genes in content.items() for gene in genes]


def _tsv_pairs(text: str, path: Path) -> list[tuple[str, str]]:
    from io import StringIO

    try:
        table = pd.read_csv(StringIO(text), sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ScrobinError(f"markers file '{path}' is not a tab-separated table "
                           f"({str(error).strip().splitlines()[-1]}): write a header with the columns "
                           f"{TYPE_COLUMN} and {GENE_COLUMN}, one gene per row") from None
    missing = [column for column in (TYPE_COLUMN, GENE_COLUMN) if column not in table.columns]
    if missing:
        raise ScrobinError(f"markers file '{path}' lacks the column(s) {', '.join(missing)} (its header: "
                           f"{', '.join(map(str, table.columns))}): write a tab-separated header with "
                           f"{TYPE_COLUMN} and {GENE_COLUMN}")
    return list(zip(table[TYPE_COLUMN].str.strip(), table[GENE_COLUMN].str.strip()))


def _gmt_pairs(text: str, path: Path) -> list[tuple[str, str]]:
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.rstrip("\n").split("\t")]
        genes = [gene for gene in fields[2:] if gene]
        if len(fields) < 3 or not genes:
            raise ScrobinError(f"markers file '{path}' line {number} is not a GMT gene set: write "
                               "'cell type<TAB>description<TAB>GENE1<TAB>GENE2...'")
        pairs += [(fields[0], gene) for gene in genes]
    return pairs


def check_marker_types(markers: Mapping[str, Sequence[str]], cell_types: Iterable[str], dataset: str,
                       path: str) -> None:
    """Stop when the marker file names cell types the dataset's labels do not have.

    Parameters
    ----------
    markers
        Cell type -> genes (:func:`read_markers`).
    cell_types
        The labels of the dataset (all of its cells, before rare types are dropped).
    dataset, path
        Names used in the message.

    Raises
    ------
    ScrobinError
        One line naming the unknown types and listing the data's types.
    """
    present = sorted({str(cell_type) for cell_type in cell_types})
    unknown = [cell_type for cell_type in markers if cell_type not in present]
    if unknown:
        raise ScrobinError(
            f"dataset '{dataset}': markers file '{path}' names cell type(s) the data lacks: "
            f"{', '.join(repr(t) for t in unknown)}; the data's types are {', '.join(repr(t) for t in present)}: "
            "rename or remove them in the markers file"
        )


def marker_genes(markers: Mapping[str, Sequence[str]]) -> list[str]:
    """The distinct genes of a marker list, in file order."""
    return list(dict.fromkeys(gene for genes in markers.values() for gene in genes))


def check_marker_genes(markers: Mapping[str, Sequence[str]], var: pd.DataFrame, gene_symbols: str | None,
                       dataset: str) -> GeneMatch:
    """Match a marker list onto a dataset's genes (:func:`scrobin.data.gene_names.resolve_gene_names`).

    Parameters
    ----------
    markers
        Cell type -> genes (:func:`read_markers`), in the user's spelling.
    var
        The dataset's genes before gene selection (``var``, var_names as index).
    gene_symbols
        The dataset's ``gene_symbols`` column, or None.
    dataset
        The dataset's name, for messages.

    Returns
    -------
    GeneMatch
        How each marker maps onto ``var_names``; markers matching nothing anywhere (genes the
        dataset did not measure) are left for :func:`unselected_markers` to report.

    Raises
    ------
    ScrobinError
        When a marker names several genes, when no marker matches, or when unmatched markers are
        in another var column or match ignoring case: each would score 0 in every ranking, so
        the message names what they would match and the fix.
    """
    match = resolve_gene_names(marker_genes(markers), var, gene_symbols)
    if match.ambiguous or not match.var_names or (match.unmatched and alternative(match, var, gene_symbols)):
        raise ScrobinError(unmatched_message(
            match, "markers", dataset, var, gene_symbols,
            f"write them as var_names does, or set datasets.{dataset}.gene_symbols to the var column of symbols"))
    return match


def unselected_markers(match: GeneMatch, selected: Iterable[str], dataset: str) -> str | None:
    """One warning line on the markers the model will not see, or None when it sees them all.

    Parameters
    ----------
    match
        The markers matched onto the dataset's genes (:func:`check_marker_genes`).
    selected
        The model's genes (``var_names`` after prepare's gene selection).
    dataset
        The dataset's name, for the message.

    Returns
    -------
    str or None
        ``"dataset 'x': 6 of 38 markers are not among the 2,500 selected genes: CD8A, ...; keep
        them with keep_genes or use_input_hvg"``, and the markers the data lacks altogether.
        Markers are never added to the model here: that would feed the truth into the test.
    """
    selected = set(map(str, selected))
    n_markers = len(match.names)
    outside = [name for name, gene in match.var_names.items() if gene not in selected]
    parts = []
    if outside:
        parts.append(f"{len(outside)} of {n_markers} markers {verb(len(outside))} not among the "
                     f"{len(selected):,} selected genes: "
                     f"{listing(outside)}; keep them with keep_genes or use_input_hvg")
    if match.unmatched:
        parts.append(f"{len(match.unmatched)} of {n_markers} markers {verb(len(match.unmatched))} "
                     f"not in the data at all: {listing(match.unmatched)}")
    return f"dataset '{dataset}': " + "; ".join(parts) if parts else None


def markers_as_var_names(markers: Mapping[str, Sequence[str]], match: GeneMatch) -> dict[str, list[str]]:
    """Cell type -> the ``var_names`` its markers resolve to (unmatched markers left out)."""
    return {cell_type: list(dict.fromkeys(match.var_names[gene] for gene in genes if gene in match.var_names))
            for cell_type, genes in markers.items()}


def marker_coverage(markers: Mapping[str, Sequence[str]], genes: Iterable[str],
                    cell_types: Iterable[str], n_genes: int | None = None) -> list[str]:
    """Log lines on what of a marker list the model can be scored on.

    Parameters
    ----------
    markers
        Cell type -> genes, in the user's spelling.
    genes
        The markers (in the user's spelling) that are among the model's genes; with ``n_genes``
        None, the model's genes themselves (after highly-variable-gene selection).
    n_genes
        The number of the model's genes; None: ``len(genes)``.
    cell_types
        The model's cell types (after rare types were dropped).

    Returns
    -------
    list of str
        One line for marker genes outside the model's genes (their count and names), one for
        types left with none of their markers, one for marker types the model does not classify,
        one for model types without markers (not scored); nothing for what is complete.
    """
    genes, cell_types = set(map(str, genes)), list(map(str, cell_types))
    n_genes = len(genes) if n_genes is None else n_genes
    outside = list(dict.fromkeys(gene for type_genes in markers.values() for gene in type_genes
                                 if gene not in genes))
    n_markers = len({gene for type_genes in markers.values() for gene in type_genes})
    lines = []
    if outside:
        lines.append(f"{len(outside)} of {n_markers} marker genes are not among the model's {n_genes} genes "
                     f"(after highly-variable-gene selection) and cannot be ranked: {', '.join(outside)}")
    unranked = [cell_type for cell_type, type_genes in markers.items()
                if cell_type in cell_types and not any(gene in genes for gene in type_genes)]
    if unranked:
        lines.append(f"cell type(s) with no marker among the model's genes, scored as 0 recovered with NaN recall "
                     f"and AUPRC: {', '.join(unranked)}")
    not_classified = [cell_type for cell_type in markers if cell_type not in cell_types]
    if not_classified:
        lines.append(f"marker type(s) not among the model's cell types (dropped as rare), not scored: "
                     f"{', '.join(not_classified)}")
    without = [cell_type for cell_type in cell_types if cell_type not in markers]
    if without:
        lines.append(f"cell type(s) without markers, not scored: {', '.join(without)}")
    return lines
