"""Offline backend: over-representation analysis of gene lists on a GMT gene-set file.

Mirrors g:Profiler's test so the two backends answer the same question: for each query and each
source separately, the statistical domain is the background genes annotated by at least one set
of that source; a set's size, the query's size and their intersection are counted inside that
domain; the one-sided hypergeometric tail gives the raw p-value, and the correction runs over all
sets of the source that passed the size filter (including those the query does not touch, which
is conservative). Symbols are compared upper-cased, so mouse symbols meet the human GMT by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from scrobin.enrichment.stats import adjust_p_values, hypergeometric_tail
from scrobin.errors import ScrobinError

# MSigDB-style name prefixes -> g:Profiler source codes, so `sources` means the same in both backends.
SOURCE_OF_PREFIX = {
    "REACTOME": "REAC",
    "WP": "WP",
    "GOBP": "GO:BP",
    "GOCC": "GO:CC",
    "GOMF": "GO:MF",
    "KEGG": "KEGG",
    "HP": "HP",
}


@dataclass(frozen=True)
class GeneSet:
    """One GMT line: its id (the set name), a readable name, its source code and upper-cased genes."""

    term_id: str
    term_name: str
    source: str | None
    genes: frozenset[str]


def read_gmt(path: str | Path) -> tuple[GeneSet, ...]:
    """Read a GMT file (name, description, genes; tab-separated), one ``GeneSet`` per line.

    The source comes from the name's prefix (``REACTOME_`` -> ``REAC``); sets with an unknown
    prefix get ``source=None`` and are never tested, because no ``sources`` entry can select them.
    Parsed libraries are memoised per file version (path, size, modification time), because
    validation and the analysis both read the same file.
    """
    path = Path(path)
    if not path.is_file():
        raise ScrobinError(f"GMT file '{path}' does not exist: set enrichment.gmt_path to a gene-set file")
    status = path.stat()
    return _parse_gmt(path.resolve(), status.st_size, status.st_mtime_ns)


@lru_cache(maxsize=4)
def _parse_gmt(path: Path, size: int, modified_ns: int) -> tuple[GeneSet, ...]:
    """Parse one version of a GMT file; ``size`` and ``modified_ns`` only key the memo."""
    gene_sets = []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.rstrip("\n\r").split("\t")
            if fields == [""]:
                continue
            if len(fields) < 3:
                raise ScrobinError(
                    f"GMT file '{path}' line {line_number} has fewer than 3 tab-separated fields: "
                    "each line needs name, description and genes"
                )
            name = fields[0]
            prefix, _, rest = name.partition("_")
            source = SOURCE_OF_PREFIX.get(prefix)
            readable = rest.replace("_", " ") if source and rest else name
            genes = frozenset(gene.upper() for gene in fields[2:] if gene)
            gene_sets.append(GeneSet(name, readable, source, genes))
    return tuple(gene_sets)


def annotated_genes(genes: Sequence[str], gene_sets: Sequence[GeneSet], sources: Sequence[str]) -> list[str]:
    """The genes (in input order) that at least one set of ``sources`` holds, compared upper-cased.

    Only these can ever be tested; identifiers where the library has symbols (Ensembl or Entrez
    ids against a symbol GMT) give none.
    """
    library = set().union(*(gene_set.genes for gene_set in gene_sets if gene_set.source in sources))
    return [gene for gene in genes if str(gene).upper() in library]


def gmt_sources(gene_sets: Sequence[GeneSet]) -> set[str]:
    """The source codes present in a gene-set library."""
    return {gene_set.source for gene_set in gene_sets if gene_set.source is not None}


def over_representation(
    gene_lists: dict[str, list[str]],
    background: list[str],
    gene_sets: Sequence[GeneSet],
    *,
    sources: list[str],
    correction: str,
    threshold: float,
    all_results: bool,
    min_set_size: int,
    max_set_size: int,
) -> tuple[pd.DataFrame, dict]:
    """Hypergeometric over-representation of every query on the selected gene sets.

    Parameters
    ----------
    gene_lists
        Query name -> genes (all inside ``background``), e.g. each cell type's top genes.
    background
        The genes the model saw; sets are restricted to them (a gene the model never saw cannot
        be picked, so counting it would inflate enrichment).
    gene_sets
        The library, from ``read_gmt``.
    sources
        Source codes to test; sets of other sources are ignored.
    correction
        'fdr' (Benjamini-Hochberg) or 'bonferroni', applied per query and source.
    threshold
        Adjusted p-value at or below which a term is significant.
    all_results
        Report every tested set the query touches, not only significant ones.
    min_set_size, max_set_size
        Sets with fewer or more genes inside the background are dropped before testing.

    Returns
    -------
    rows, info
        The backend's rows (common columns, without ``backend``/``note``) and counts for the report:
        sets tested per source, domain size per source, requested sources the GMT lacks.
    """
    spelling_of = {}
    for gene in background:
        spelling_of.setdefault(gene.upper(), gene)

    known = set(spelling_of)
    selected = [gene_set for gene_set in gene_sets if gene_set.source in sources]
    members = [gene_set.genes & known for gene_set in selected]
    present_sources = sorted({gene_set.source for gene_set in selected})
    domain_of_source = {source: set() for source in present_sources}
    for gene_set, genes in zip(selected, members):
        domain_of_source[gene_set.source].update(genes)

    kept = [index for index, genes in enumerate(members) if min_set_size <= len(genes) <= max_set_size]
    info = {
        "sources_missing_from_gmt": [source for source in sources if source not in present_sources],
        "gmt_sets_tested": {
            source: sum(selected[index].source == source for index in kept) for source in present_sources
        },
        "effective_domain_size": {source: len(domain) for source, domain in domain_of_source.items()},
    }
    query_names = list(gene_lists)
    if not kept:
        return pd.DataFrame(), info

    domain_genes = sorted(set().union(*domain_of_source.values()))
    column_of_gene = {gene: column for column, gene in enumerate(domain_genes)}
    membership = _indicator_matrix([members[index] for index in kept], column_of_gene)
    source_domains = _indicator_matrix([domain_of_source[source] for source in present_sources], column_of_gene)
    upper_queries = [[gene.upper() for gene in gene_lists[name]] for name in query_names]
    queries = _indicator_matrix([set(genes) for genes in upper_queries], column_of_gene).T.toarray()

    source_row = np.array([present_sources.index(selected[index].source) for index in kept])
    intersection_sizes = np.asarray(membership @ queries, dtype=np.int64)
    term_sizes = np.asarray(membership.sum(axis=1), dtype=np.int64)
    domain_sizes = np.asarray(source_domains.sum(axis=1), dtype=np.int64)[source_row]
    query_sizes = np.asarray(source_domains @ queries, dtype=np.int64)[source_row]
    raw = hypergeometric_tail(intersection_sizes, domain_sizes, term_sizes, query_sizes)

    adjusted = np.empty_like(raw)
    for source_index in range(len(present_sources)):
        in_source = source_row == source_index
        for query_index in range(len(query_names)):
            adjusted[in_source, query_index] = adjust_p_values(raw[in_source, query_index], correction)

    significant = adjusted <= threshold
    reported = (intersection_sizes > 0) & (significant | all_results)
    set_rows, query_columns = np.nonzero(reported)
    reported_sets = [selected[kept[row]] for row in set_rows]
    rows = pd.DataFrame(
        {
            "query": [query_names[column] for column in query_columns],
            "source": [gene_set.source for gene_set in reported_sets],
            "term_id": [gene_set.term_id for gene_set in reported_sets],
            "term_name": [gene_set.term_name for gene_set in reported_sets],
            "p_value": adjusted[set_rows, query_columns],
            "p_value_raw": raw[set_rows, query_columns],
            "significant": significant[set_rows, query_columns],
            "term_size": term_sizes[set_rows, 0],
            "query_size": query_sizes[set_rows, query_columns],
            "intersection_size": intersection_sizes[set_rows, query_columns],
            "effective_domain_size": domain_sizes[set_rows, 0],
            "intersection": [
                ",".join(
                    original
                    for original, upper in zip(gene_lists[query_names[column]], upper_queries[column])
                    if upper in gene_set.genes
                )
                for gene_set, column in zip(reported_sets, query_columns)
            ],
        }
    )
    return rows, info


def _indicator_matrix(gene_groups: list[set[str]], column_of_gene: dict[str, int]) -> sparse.csr_matrix:
    """Rows = groups, columns = genes, 1 where the gene is in the group (genes outside ignored)."""
    row_indices, column_indices = [], []
    for row, genes in enumerate(gene_groups):
        columns = [column_of_gene[gene] for gene in genes if gene in column_of_gene]
        row_indices.extend([row] * len(columns))
        column_indices.extend(columns)
    values = np.ones(len(row_indices), dtype=np.float64)
    shape = (len(gene_groups), len(column_of_gene))
    return sparse.csr_matrix((values, (row_indices, column_indices)), shape=shape)
