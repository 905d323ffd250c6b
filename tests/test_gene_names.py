"""The one gene-name resolver: markers, keep_genes and query genes onto a dataset's var_names."""

from __future__ import annotations

import pandas as pd
import pytest

from scrobin.data.gene_names import alternative, resolve_gene_names, unmatched_message, upper_case_convention

# CELLxGENE mouse layout: Ensembl ids as var_names, symbols in a column (one symbol on two ids).
MOUSE = pd.DataFrame(
    {"feature_name": ["Cd8a", "Cd4", "Ptprc", "Pinx1", "Pinx1", "mt-Co1"], "feature_length": [1, 2, 3, 4, 5, 6]},
    index=[f"ENSMUSG{i:011d}" for i in range(6)],
)


def test_upper_case_convention_tells_human_from_mouse_symbols():
    assert upper_case_convention(["CD8A", "CD4", "C1orf112", "LINC00115"])
    assert not upper_case_convention(["Cd8a", "Cd4", "mt-Co1", "1700001C19Rik"])
    assert upper_case_convention(["ENSG00000100000"]) and not upper_case_convention(["1000", "1001"])


def test_exact_names_then_symbols_then_case_where_conventions_differ():
    match = resolve_gene_names(["ENSMUSG00000000002", "CD8A", "PTPRC", "XYZ1"], MOUSE, "feature_name")
    assert match.var_names == {"ENSMUSG00000000002": "ENSMUSG00000000002", "CD8A": "ENSMUSG00000000000",
                               "PTPRC": "ENSMUSG00000000002"}
    assert match.unmatched == ("XYZ1",) and match.genes == ["ENSMUSG00000000002", "ENSMUSG00000000000"]
    assert match.searched == "var_names or var['feature_name']"
    # Without the symbol column nothing but the id matches.
    assert resolve_gene_names(["CD8A"], MOUSE).unmatched == ("CD8A",)


def test_case_is_kept_where_conventions_agree():
    # Drosophila: H (Hairless) and h (hairy) are two genes; a capitalised list must not fold them.
    fly = pd.DataFrame(index=["H", "h", "Ubx", "en"])
    assert resolve_gene_names(["h", "Ubx"], fly).var_names == {"h": "h", "Ubx": "Ubx"}
    match = resolve_gene_names(["Ubx", "EN"], fly)
    assert match.unmatched == ("EN",)
    assert unmatched_message(match, "markers", "fly", fly, None, "fix") == (
        "dataset 'fly': 1 of the 2 markers is in var_names, 1 more only ignoring case (e.g. 'EN' is 'en'): "
        "write them as the data does")


def test_a_name_matching_several_genes_is_reported_never_picked():
    match = resolve_gene_names(["PINX1", "CD4"], MOUSE, "feature_name")
    assert match.ambiguous == {"PINX1": ("ENSMUSG00000000003", "ENSMUSG00000000004")}
    assert "PINX1" not in match.var_names and match.var_names == {"CD4": "ENSMUSG00000000001"}
    assert unmatched_message(match, "keep_genes", "m", MOUSE, "feature_name", "fix") == (
        "dataset 'm': 1 of the 2 keep_genes names several genes, e.g. 'PINX1' is ENSMUSG00000000003, "
        "ENSMUSG00000000004 in var_names or var['feature_name']: name each by its var_names entry instead")


def test_what_matches_nothing_comes_with_what_it_would_match():
    match = resolve_gene_names(["CD8A", "CD4", "NOPE"], MOUSE)
    found = alternative(match, MOUSE)
    assert (found.column, found.count, found.example) == ("feature_name", 2, ("CD8A", "Cd8a"))
    assert unmatched_message(match, "markers", "m", MOUSE, None, "fix") == (
        "dataset 'm': 0 of the 3 markers are in var_names, 2 are in var['feature_name'] (e.g. 'CD8A' as 'Cd8a'): "
        "set datasets.m.gene_symbols: feature_name")
    nothing = resolve_gene_names(["NOPE", "NADA"], MOUSE, "feature_name")
    assert alternative(nothing, MOUSE, "feature_name") is None
    assert unmatched_message(nothing, "keep_genes", "m", MOUSE, "feature_name", "fix their names") == (
        "dataset 'm': 2 of the 2 keep_genes are not in var_names or var['feature_name']: NOPE, NADA: fix their names")
    assert unmatched_message(resolve_gene_names(["Cd4"], MOUSE, "feature_name"), "x", "m", MOUSE, "feature_name", "") is None


def test_query_genes_map_onto_the_model_genes():
    """A query dataset's genes (human symbols) onto a model trained on mouse ids with symbols."""
    model_var = pd.DataFrame({"gene_symbol": ["Cd8a", "Cd4", "Ptprc"]}, index=["ENSMUSG1", "ENSMUSG2", "ENSMUSG3"])
    query = pd.Index(["PTPRC", "CD8A", "GAPDH", "ACTB"])
    match = resolve_gene_names(query, model_var, "gene_symbol")
    assert match.var_names == {"PTPRC": "ENSMUSG3", "CD8A": "ENSMUSG1"}
    assert set(match.unmatched) == {"GAPDH", "ACTB"}
    # Model genes the query lacks: those no query name resolved to.
    assert [gene for gene in model_var.index if gene not in match.genes] == ["ENSMUSG2"]


@pytest.mark.parametrize("missing", [None, float("nan"), ""])
def test_missing_symbols_match_nothing(missing):
    var = pd.DataFrame({"symbol": ["CD8A", missing]}, index=["ENSG1", "ENSG2"])
    match = resolve_gene_names(["CD8A", "", "nan", "None"], var, "symbol")
    assert match.var_names == {"CD8A": "ENSG1"}
