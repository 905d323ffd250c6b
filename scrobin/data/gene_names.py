"""One resolver for the gene names a user lists: markers and ``keep_genes``.

(A query dataset's own genes are aligned by :mod:`scrobin.data.query`, exactly: there names that
match only ignoring case mean another species, refused rather than matched.)

Names come in whatever namespace the user had at hand (symbols from a paper, human upper case for
mouse data, a CELLxGENE file's Ensembl ids); the model keys on a dataset's ``var_names``.
:func:`resolve_gene_names` maps names onto ``var_names``, in this order, each step only for the
names still unmatched:

1. ``var_names`` exactly;
2. the dataset's ``gene_symbols`` column exactly, when it sets one;
3. both again ignoring case, but only where the case conventions of the names and of that
   namespace differ (see :func:`upper_case_convention`).

A name that matches several genes (a symbol shared by two Ensembl ids) is reported as ambiguous,
never silently resolved to one of them. What matches nothing is returned with what it would match
(:func:`alternative`), so a caller can refuse it with the fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

# Names listed in a message before "and N more".
LISTED_NAMES = 10


@dataclass(frozen=True)
class GeneMatch:
    """Where names given by a user land among a dataset's genes (:func:`resolve_gene_names`).

    Attributes
    ----------
    names
        The distinct names given, in their order.
    var_names
        Given name -> the one ``var_names`` entry it resolves to.
    ambiguous
        Given name -> the ``var_names`` entries it matches equally well (two or more).
    unmatched
        Given names that match no gene, in their order.
    searched
        The namespaces searched, for messages: ``"var_names"`` or ``"var_names or var['x']"``.
    """

    names: tuple[str, ...]
    var_names: dict[str, str]
    ambiguous: dict[str, tuple[str, ...]]
    unmatched: tuple[str, ...]
    searched: str

    @property
    def genes(self) -> list[str]:
        """The distinct ``var_names`` the names resolve to, in the order of the names."""
        return list(dict.fromkeys(self.var_names.values()))


@dataclass(frozen=True)
class Alternative:
    """What unmatched names would match elsewhere: a var ``column`` (None: the same namespaces
    with case ignored), how many of them, and one example pair (given name, value found)."""

    column: str | None
    count: int
    example: tuple[str, str]


def upper_case_convention(names: Iterable[str]) -> bool:
    """Whether most names with a cased letter are written all upper case.

    Human gene symbols are upper case (``CD8A``); mouse and rat symbols are capitalised
    (``Cd8a``); Ensembl ids are upper case and Entrez ids have no letter. Two namespaces whose
    conventions differ (a human marker list on mouse data) are compared ignoring case; two that
    share one are compared exactly, because there case can tell genes apart (Drosophila ``H`` and
    ``h``, or a mixed human-mouse reference). The names themselves decide, not the dataset's
    ``organism``, which defaults to hsapiens and so would misdescribe mouse data left unset.
    """
    names = pd.Index(list(names), dtype=object).astype(str)
    cased = names[names.str.upper() != names.str.lower()]
    return bool(len(cased)) and float(cased.str.isupper().mean()) > 0.5


def resolve_gene_names(names: Iterable[str], var: pd.DataFrame, gene_symbols: str | None = None) -> GeneMatch:
    """Map gene names a user gives onto a dataset's ``var_names``.

    Parameters
    ----------
    names
        Gene names as the user wrote them (markers, ``keep_genes``); duplicates count once.
    var
        The dataset's genes: ``var`` with ``var_names`` as index (unique), e.g. ``adata.var`` or
        a prepared dataset's ``var`` (whose ``gene_symbol`` column holds its symbols).
    gene_symbols
        The var column of gene symbols the dataset sets (``datasets.<name>.gene_symbols``), or
        None: only ``var_names`` are searched.

    Returns
    -------
    GeneMatch
        Each name resolved to one ``var_names`` entry, or ambiguous (several genes), or unmatched.
        Matching is exact on ``var_names``, then exact on ``var[gene_symbols]``, then on both
        ignoring case where the names' case convention differs from that namespace's
        (:func:`upper_case_convention`); each step takes only names the earlier ones left.
    """
    given = list(dict.fromkeys(str(name) for name in names))
    found = _resolve(given, _searched(var, gene_symbols), upper_case_convention(given))
    searched = "var_names" if gene_symbols is None else f"var_names or var['{gene_symbols}']"
    return GeneMatch(
        names=tuple(given),
        var_names={name: found[name][0] for name in given if name in found and len(found[name]) == 1},
        ambiguous={name: found[name] for name in given if name in found and len(found[name]) > 1},
        unmatched=tuple(name for name in given if name not in found),
        searched=searched,
    )


def _searched(var: pd.DataFrame, gene_symbols: str | None) -> list[pd.Series]:
    """The namespaces the resolver searches, in order: var_names, then the symbol column."""
    return [_keys(var, None)] + ([] if gene_symbols is None else [_keys(var, gene_symbols)])


def _keys(var: pd.DataFrame, column: str | None) -> pd.Series:
    """One namespace: each gene's name in it (``var_names`` when ``column`` is None, else the
    column as text, missing entries "" so they match nothing), indexed by var_names."""
    var_names = var.index.astype(str)
    if column is None:
        return pd.Series(var_names, index=var_names)
    values = var[column].astype(object)
    return pd.Series(values.where(values.notna(), "").astype(str).to_numpy(), index=var_names)


def _resolve(names: list[str], spaces: list[pd.Series], names_upper: bool) -> dict[str, tuple[str, ...]]:
    """Name -> matching genes: every namespace exactly, then ignoring case those whose convention
    differs from ``names_upper`` (the names' own), each step for the names still unmatched."""
    steps = [(keys, False) for keys in spaces] + [
        (keys, True) for keys in spaces if upper_case_convention(keys) != names_upper
    ]
    found: dict[str, tuple[str, ...]] = {}
    for keys, folded in steps:
        left = [name for name in names if name not in found]
        if not left:
            break
        found.update(_lookup(left, keys, folded))
    return found


def _lookup(names: list[str], keys: pd.Series, folded: bool) -> dict[str, tuple[str, ...]]:
    """Name -> the genes (var_names) whose key equals it, for the names matching any."""
    fold = (lambda values: values.str.casefold()) if folded else (lambda values: values)
    wanted = pd.Series(names, index=fold(pd.Index(names, dtype=object)))
    table = pd.DataFrame({"key": fold(keys).to_numpy(), "gene": keys.index})
    table = table[table["key"].isin(wanted.index) & (table["key"] != "")]
    genes = table.groupby("key", sort=False)["gene"].agg(tuple)
    # Distinct names folding to one key (CD8A, Cd8a) each get that key's genes.
    return {name: genes[key] for key, name in wanted.items() if key in genes.index}


def alternative(match: GeneMatch, var: pd.DataFrame, gene_symbols: str | None = None) -> Alternative | None:
    """What the names :func:`resolve_gene_names` left unmatched would match instead.

    The text column of ``var`` other than ``gene_symbols`` through which the resolver would match
    most of them (the names' case convention judged on all of them, as the resolver did); else
    the searched namespaces ignoring case although the conventions agree (a list mixing ``CD8A``
    and ``Cd8a``); None when neither matches any.
    """
    names_upper, left = upper_case_convention(match.names), list(match.unmatched)
    best = None
    for column in text_columns(var, exclude=gene_symbols):
        keys = _keys(var, column)
        hits = _resolve(left, [keys], names_upper)
        if hits and (best is None or len(hits) > best.count):
            name, genes = next(iter(hits.items()))
            best = Alternative(str(column), len(hits), (name, keys[genes[0]]))
    if best is not None:
        return best
    for keys in _searched(var, gene_symbols):
        hits = _lookup(left, keys, folded=True)
        if hits:
            name, genes = next(iter(hits.items()))
            return Alternative(None, len(hits), (name, keys[genes[0]]))
    return None


def text_columns(var: pd.DataFrame, exclude: str | None = None) -> list:
    """The columns of ``var`` that may hold gene names (neither numeric nor boolean), but ``exclude``."""
    return [column for column in var.columns if column != exclude
            and not pd.api.types.is_numeric_dtype(var[column]) and not pd.api.types.is_bool_dtype(var[column])]


def listing(names: Iterable[str], limit: int = LISTED_NAMES) -> str:
    """``"A, B, C and 4 more"``: names for a one-line message."""
    names = list(names)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def unmatched_message(match: GeneMatch, what: str, dataset: str, var: pd.DataFrame, gene_symbols: str | None,
                      fix: str) -> str | None:
    """One line refusing names that are ambiguous or match nothing, with what they would match.

    Parameters
    ----------
    match
        :func:`resolve_gene_names`'s answer.
    what
        The names' role in the message, plural (``"markers"``, ``"keep_genes"``).
    dataset
        The dataset's name in the config.
    var, gene_symbols
        What was searched (as given to the resolver), to find an alternative.
    fix
        The fix when no alternative helps (e.g. ``"fix their names or remove them from keep_genes"``).

    Returns
    -------
    str or None
        None when every name resolves to one gene. Ambiguous names are named with their genes
        first; otherwise unmatched names with the var column that holds them (and the
        ``gene_symbols`` setting), or their spelling ignoring case, or ``fix``.
    """
    where = f"dataset '{dataset}'"
    n_names, n_unmatched = len(match.names), len(match.unmatched)
    if match.ambiguous:
        name, genes = next(iter(match.ambiguous.items()))
        n_ambiguous = len(match.ambiguous)
        return (f"{where}: {n_ambiguous} of the {n_names} {what} {verb(n_ambiguous, 'names', 'name')} several genes, "
                f"e.g. '{name}' is {', '.join(genes)} in {match.searched}: name each by its var_names entry instead")
    if not n_unmatched:
        return None
    found = alternative(match, var, gene_symbols)
    matched = f"{n_names - n_unmatched} of the {n_names} {what} {verb(n_names - n_unmatched)} in {match.searched}"
    if found is None:
        return (f"{where}: {n_unmatched} of the {n_names} {what} {verb(n_unmatched)} not in {match.searched}: "
                f"{listing(match.unmatched)}: {fix}")
    given, value = found.example
    if found.column is None:
        return (f"{where}: {matched}, {found.count} more only ignoring case (e.g. '{given}' is '{value}'): "
                "write them as the data does")
    example = f"'{given}'" if given == value else f"'{given}' as '{value}'"
    return (f"{where}: {matched}, {found.count} {verb(found.count)} in var['{found.column}'] (e.g. {example}): "
            f"set datasets.{dataset}.gene_symbols: {found.column}")


def verb(count: int, singular: str = "is", plural: str = "are") -> str:
    """The verb agreeing with ``count`` in a message ("1 is", "2 are")."""
    return singular if count == 1 else plural
