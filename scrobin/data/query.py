"""Query cells: a new ``.h5ad`` that a trained model labels, checked like a source and replayed
into the model's input.

A query passes the checks of a source (:func:`scrobin.data.checks.check_cells`; labels are
optional), must hold values in the input state the model was trained from, and is aligned with
the model's genes by name: its ``var_names``, or the var column its spec names in
``gene_symbols``, against the model's ``var_names`` or, when the reference named a
``gene_symbols`` column, the symbols its transform records, whichever shares more model genes.
The recorded transform is then replayed block by block of cells with
:func:`scrobin.data.preprocess.apply_transform` (``missing_genes="neutral"``, the one place the
rule for missing genes lives), so a large query is never densified whole.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from scrobin.data.checks import Subject, check_cells, input_matrix, input_state_of
from scrobin.data.chunked_io import row_blocks
from scrobin.data.gene_names import text_columns
from scrobin.data.prepare import gene_symbols as symbols_of
from scrobin.data.preprocess import SYMBOLS_OF, absent_genes, apply_transform, missing_gene_rule
from scrobin.errors import ScrobinError

# Query-spec keys that describe its cells; a query takes no other dataset setting.
QUERY_KEYS = ("source", "label_key", "layer", "input_state", "gene_symbols")
# Where a query measured on a share of the model's genes below the minimum is refused.
MIN_SHARED_SETTING = "annotation.min_shared_genes"
# How many names a message or record lists before "and N more".
SHOWN_NAMES = 10


def check_query(adata: ad.AnnData, spec: Mapping, subject: Subject) -> str:
    """Check a query's cells with a source's rules and return their input state.

    Parameters
    ----------
    adata
        The query, cells x genes (in memory or backed).
    spec
        The query's settings: ``label_key`` (optional: unlabelled cells are only annotated),
        ``layer``, ``input_state`` (``auto`` unless given) and ``gene_symbols``.
    subject
        How messages name the query and its settings
        (:func:`scrobin.data.checks.query_subject`, or a command-line :class:`Subject`).

    Returns
    -------
    str
        ``counts``, ``lognorm`` or ``scaled``: detected from ``X``, a layer's counts, or declared.

    Raises
    ------
    ScrobinError
        Any check of :func:`scrobin.data.checks.check_cells`, or values of ``X`` that fit no input state.
    """
    layer, input_state = spec.get("layer"), spec.get("input_state", "auto")
    check_cells(adata, subject, spec.get("label_key"), layer, input_state, spec.get("gene_symbols"))
    return input_state_of(input_matrix(adata, layer), subject, layer, input_state)[0]


def check_input_state(state: str, transform: Mapping, subject: Subject) -> None:
    """Refuse a query whose values are not in the input state the model's transform starts from.

    Replaying a transform from another state would, e.g., log-normalise values that already are
    (counts are normalised over the counted genes; a log-normalised query was normalised over its
    own), so the query must hold the same kind of values as the reference did.

    Raises
    ------
    ScrobinError
        Naming both states and the setting that gives the right matrix.
    """
    expected = transform["input_state"]
    if state == expected:
        return
    source = {
        "counts": f"a layer of raw counts ({subject.setting('layer')})",
        "lognorm": "log-normalised values in X (log1p of counts per 10k)",
        "scaled": "scaled values in X (centred per gene)",
    }[expected]
    raise ScrobinError(
        f"{subject.where}: the query holds {state} values but the model was trained from {expected} values: "
        f"give {source}, or set {subject.setting('input_state')} if {state} was detected wrongly"
    )


def align_genes(query_names: Sequence[str], model_names: Sequence[str]) -> np.ndarray:
    """Column of ``query_names`` holding each of ``model_names``; -1 where the query lacks it.

    Names match exactly (case included: ``Cd3e`` is not ``CD3E``). A name the query repeats, as a
    symbol shared by several gene ids is, is read from its first column. Order and extra query
    genes do not matter.

    Returns
    -------
    numpy.ndarray
        int64, one position per model name.
    """
    query_names = pd.Index(query_names)
    first = ~query_names.duplicated()
    positions = pd.Index(query_names[first]).get_indexer(pd.Index(model_names))
    return np.where(positions >= 0, np.flatnonzero(first)[positions], -1).astype(np.int64)


@dataclass
class QueryAlignment:
    """How a query's genes meet a model's (:func:`align_query`), and the columns its replay reads."""

    columns: np.ndarray
    """Query column of each reference gene the query has (int64)."""
    names: pd.Index
    """The reference ``var_names`` those columns stand for, the names the transform is replayed by."""
    matched_by: str
    """``var_names`` or ``gene_symbols``: the names of the model's genes the query matched."""
    query_names: str
    """What of the query matched: ``var_names`` or ``var['<column>']``."""
    n_model_genes: int
    missing_genes: list[str]
    """Model genes the query lacks, named as matched: 0 in the model input, neutral for the model."""
    n_counted_genes: int
    """Genes of the library size (0 when the transform does not normalise counts)."""
    missing_counted_genes: list[str]
    """Counted genes the query lacks: they add no counts to its library sizes."""
    missing_gene_rule: str
    """What the replay makes of missing genes (:func:`scrobin.data.preprocess.missing_gene_rule`)."""

    @property
    def missing_share(self) -> float:
        """Share of the model genes the query lacks (0-1)."""
        return len(self.missing_genes) / self.n_model_genes

    def record(self) -> dict:
        """What an output records of the alignment (``uns``-ready: no None, lists of text)."""
        return {
            "matched_by": self.matched_by,
            "query_names": self.query_names,
            "n_model_genes": self.n_model_genes,
            "n_missing_genes": len(self.missing_genes),
            "missing_share": round(self.missing_share, 6),
            "missing_genes": list(self.missing_genes),
            "n_counted_genes": self.n_counted_genes,
            "n_missing_counted_genes": len(self.missing_counted_genes),
            "missing_gene_rule": self.missing_gene_rule,
        }


def query_gene_names(var: pd.DataFrame, gene_symbols: str | None) -> pd.Index:
    """The names a query's genes are matched by: ``var[gene_symbols]`` (a gene without a symbol
    keeps its var_name) when named, else ``var_names``."""
    if gene_symbols is None:
        return pd.Index(var.index.astype(str))
    return pd.Index(symbols_of(var, gene_symbols).astype(str))


def align_query(var: pd.DataFrame, transform: Mapping, subject: Subject, gene_symbols: str | None = None,
                min_shared_genes: float = 0.0, genes_of: str = "model") -> QueryAlignment:
    """Align a query's genes with those a model's transform reads, refusing too few shared genes.

    The query's names (:func:`query_gene_names`) are matched against the model's ``var_names``
    and, when the transform records them (the reference named ``gene_symbols``), its symbols;
    the one sharing more model genes is used (``var_names`` on a tie). The transform reads the
    counted genes when it normalises counts (the model genes are among them), else the model genes.

    Parameters
    ----------
    var
        The query's ``var`` (genes x annotations).
    transform
        The model's transform (``metadata["transform"]``, or ``uns["scrobin"]["transform"]``).
    subject
        Names the query and its settings in messages.
    gene_symbols
        The query's var column of names to match by, or None for ``var_names``.
    min_shared_genes
        Least share (0-1) of the model genes the query must have; a query sharing none is
        refused whatever this is.
    genes_of
        Whose genes messages say they are: ``model``, or ``reference`` for
        :func:`reference_gene_record` before the model genes are chosen.

    Raises
    ------
    ScrobinError
        Too few model genes shared, saying when the names match once case is ignored (another
        species' symbols, as mouse ``Cd3e`` and human ``CD3E``) or when another var column of the
        query holds them.
    """
    query_names = query_gene_names(var, gene_symbols)
    reference = pd.Index(transform.get("counted_genes", transform["genes"]))
    candidates = {"var_names": reference}
    symbols_key = SYMBOLS_OF["counted_genes" if "counted_genes" in transform else "genes"]
    if symbols_key in transform:
        candidates["gene_symbols"] = pd.Index(transform[symbols_key])
    is_model = reference.isin(pd.Index(transform["genes"]))
    positions = {name: align_genes(query_names, names) for name, names in candidates.items()}
    # max keeps the first of equals: var_names on a tie.
    matched_by = max(positions, key=lambda name: int((positions[name][is_model] >= 0).sum()))
    found, names = positions[matched_by] >= 0, candidates[matched_by]
    shown_names = "var_names" if gene_symbols is None else f"var['{gene_symbols}']"
    # Reported in the names matched; which genes are missing follows apply_transform's own rule.
    missing = absent_genes(reference[found], transform)
    renamed = dict(zip(reference, names))
    alignment = QueryAlignment(
        columns=positions[matched_by][found], names=reference[found], matched_by=matched_by, query_names=shown_names,
        n_model_genes=int(is_model.sum()), missing_genes=[renamed[g] for g in missing["genes"]],
        n_counted_genes=len(transform.get("counted_genes", [])),
        missing_counted_genes=[renamed[g] for g in missing["counted_genes"]],
        missing_gene_rule=missing_gene_rule(transform),
    )
    shared = alignment.n_model_genes - len(alignment.missing_genes)
    if shared == 0 or shared < min_shared_genes * alignment.n_model_genes:
        raise ScrobinError(_too_few_shared(var, query_names, names[is_model], shared, subject, gene_symbols,
                                           min_shared_genes, genes_of))
    return alignment


def _too_few_shared(var: pd.DataFrame, query_names: pd.Index, model_names: pd.Index, shared: int, subject: Subject,
                    gene_symbols: str | None, min_shared_genes: float, genes_of: str) -> str:
    """The one-line refusal of a query sharing too few model genes, with the likeliest fix."""
    n_model = len(model_names)
    threshold = "--min-shared-genes" if subject.command_line else MIN_SHARED_SETTING
    what = "var_names" if gene_symbols is None else f"var['{gene_symbols}']"
    if shared:
        head = (f"{subject.where}: its {what} hold {shared} of the {genes_of}'s {n_model} genes ({shared / n_model:.0%}), "
                f"fewer than {threshold} {min_shared_genes:.0%}")
    else:
        head = (f"{subject.where}: its {what} hold none of the {genes_of}'s {n_model} genes ({genes_of} '{model_names[0]}', "
                f"query '{query_names[0]}')")
    folded = align_genes(query_names.str.lower(), model_names.str.lower())
    case_only = np.flatnonzero((folded >= 0) & (align_genes(query_names, model_names) < 0))
    # Another species' symbols (mouse Cd3e, human CD3E) match for most genes once case is ignored;
    # a few such pairs within one species' names are chance.
    if len(case_only) > max(shared, n_model / 4):
        first = case_only[0]
        return (f"{head}; {int((folded >= 0).sum())} match once case is ignored (query '{query_names[folded[first]]}' "
                f"for {genes_of} '{model_names[first]}'), as mouse and human symbols do: the query looks like another "
                f"species; label it with a model of its own species, or map its genes to orthologues first")
    column, count = _best_var_column(var, model_names, exclude=gene_symbols)
    if count > shared:
        return f"{head}; var['{column}'] holds {count} of them: set {subject.setting('gene_symbols')}: {column}"
    fix = f"give a query measured on the {genes_of}'s genes, or name the var column of its symbols in " \
          f"{subject.setting('gene_symbols')}"
    return f"{head}: {fix}" + (f", or lower {threshold}" if shared else "")


def _best_var_column(var: pd.DataFrame, model_names: pd.Index, exclude: str | None) -> tuple[str | None, int]:
    """The text var column sharing the most model genes, and how many (None, 0 without one)."""
    counts = {column: int((align_genes(var[column].astype(str), model_names) >= 0).sum())
              for column in text_columns(var, exclude)}
    best = max(counts, key=counts.get, default=None)
    return best, counts.get(best, 0)


def replay_blocks(adata: ad.AnnData, alignment: QueryAlignment, transform: Mapping, layer: str | None = None,
                  chunk_cells: int | None = None) -> Iterator[tuple[np.ndarray, object]]:
    """Yield ``(positions, model input)`` for each block of query cells.

    Parameters
    ----------
    adata
        The query (in memory or backed); its ``X`` or ``layer`` holds the aligned input state.
    alignment
        :func:`align_query` of this query and ``transform``.
    transform
        The model's recorded transform.
    layer
        The query's layer to read, or None for ``X``.
    chunk_cells
        Cells per block (``scrobin.data.chunked_io.CHUNK_CELLS`` when None).

    Yields
    ------
    positions, cells
        Row positions of the block and its model input: cells x model genes float32, dense
        when the transform scales, else sparse CSR for sparse input; missing genes as
        :func:`scrobin.data.preprocess.apply_transform` with ``missing_genes="neutral"`` makes them.
    """
    for positions, block in row_blocks(input_matrix(adata, layer), chunk_cells=chunk_cells, what="query replay"):
        yield positions, apply_transform(block[:, alignment.columns], alignment.names, transform, missing_genes="neutral")


def query_model_input(adata: ad.AnnData, alignment: QueryAlignment, transform: Mapping, layer: str | None = None):
    """The model input of every query cell at once (cells x model genes float32): the blocks of
    :func:`replay_blocks` stacked. For queries that fit in memory; stream the blocks otherwise."""
    blocks = [cells for _, cells in replay_blocks(adata, alignment, transform, layer)]
    if any(sp.issparse(block) for block in blocks):
        return sp.vstack(blocks, format="csr")
    return np.concatenate(blocks) if blocks else np.zeros((0, len(transform["genes"])), np.float32)


def labels_not_in_reference(labels: pd.Series, classes: Sequence[str]) -> dict[str, int]:
    """Query labels the model has no class for, with their numbers of cells (most first)."""
    unknown = labels.astype(str)[~labels.astype(str).isin(list(map(str, classes)))]
    return {str(label): int(n) for label, n in unknown.value_counts().items()}


def unknown_labels_message(unknown: Mapping[str, int], classes: Sequence[str], subject: Subject) -> str:
    """One line naming query labels the reference lacks, close reference types and the fix."""
    listing = ", ".join(f"'{label}' ({n} cells)" for label, n in list(unknown.items())[:SHOWN_NAMES])
    more = f" and {len(unknown) - SHOWN_NAMES} more" if len(unknown) > SHOWN_NAMES else ""
    lowered = {str(c).lower(): str(c) for c in classes}
    close = {label: difflib.get_close_matches(label.lower(), list(lowered), n=1) for label in unknown}
    guesses = "; ".join(f"'{label}' may be '{lowered[match[0]]}'" for label, match in close.items() if match)
    return (f"{subject.where}: {len(unknown)} query labels are not in the reference: {listing}{more}"
            f"{f' ({guesses})' if guesses else ''}: their cells are reported as not in the reference and not "
            f"scored; rename them to the reference's types in {subject.setting('label_key')} to score them")


def reference_gene_record(var: pd.DataFrame, state: str, gene_symbols: str | None) -> dict:
    """A reference source's genes in a transform's terms, to align a query with before ``prepare``
    has chosen the model genes (:func:`check_query_source`): every gene counts as a model gene."""
    record = {"input_state": state, "steps": [], "genes": list(var.index.astype(str))}
    if gene_symbols is not None:
        record[SYMBOLS_OF["genes"]] = list(symbols_of(var, gene_symbols).astype(str))
    return record


def check_query_source(adata: ad.AnnData, spec: Mapping, subject: Subject, reference: Mapping,
                       reference_types: Sequence[str]) -> list[str]:
    """The checks of a query that can run before any job; returns warnings (one line each).

    The model genes are chosen by ``prepare`` (highly variable genes), so before any job the
    query is aligned with every gene of the reference: it is refused when it holds none of them
    (another species' symbols are named as such), while the share of model genes it lacks is
    checked against ``annotation.min_shared_genes`` when it is labelled. Query labels the reference
    lacks are warned about, never refused: their cells are reported, not scored.

    Parameters
    ----------
    adata
        The query as loaded (cells x genes).
    spec
        The query's spec (:data:`QUERY_KEYS`).
    subject
        Names the dataset and query in messages (:func:`scrobin.data.checks.query_subject`).
    reference
        :func:`reference_gene_record` of the reference's checked cells.
    reference_types
        The reference's cell types (those the models will have).

    Raises
    ------
    ScrobinError
        Bad cells, another input state than the reference's, or no gene in common.
    """
    check_input_state(check_query(adata, spec, subject), reference, subject)
    align_query(adata.var, reference, subject, spec.get("gene_symbols"), genes_of="reference")
    if spec.get("label_key") is None:
        return []
    unknown = labels_not_in_reference(adata.obs[spec["label_key"]], reference_types)
    return [unknown_labels_message(unknown, reference_types, subject)] if unknown else []
