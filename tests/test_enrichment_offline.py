"""The offline backend: hypergeometric p-values, BH correction, background and size rules, GMT reading."""

from __future__ import annotations

import math
import socket

import numpy as np
import pytest
from scipy.stats import false_discovery_control, hypergeom

from scrobin.enrichment import ENRICHMENT_COLUMNS, benjamini_hochberg, enrich, read_gmt
from scrobin.enrichment.config import DEFAULTS
from scrobin.enrichment.stats import bonferroni, hypergeometric_tail
from scrobin.errors import ScrobinError
from scrobin.paths import resolve_path

BACKGROUND = [f"G{index:02d}" for index in range(60)]
GENE_SETS = {
    "REACTOME_ALPHA": [f"G{index:02d}" for index in range(0, 10)],
    "REACTOME_BETA": [f"G{index:02d}" for index in range(5, 15)] + ["NOT_IN_BACKGROUND"],
    "REACTOME_TINY": ["G30", "G31"],
    "REACTOME_HUGE": [f"G{index:02d}" for index in range(0, 40)],
    "REACTOME_DELTA": [f"G{index:02d}" for index in range(40, 48)],
    "WP_GAMMA": [f"G{index:02d}" for index in range(20, 28)],
    "WP_EPSILON": [f"G{index:02d}" for index in range(48, 56)],
    "CUSTOM_UNKNOWN_PREFIX": [f"G{index:02d}" for index in range(0, 8)],
}
GENE_LISTS = {
    "first": ["G06", "G00", "G01", "G02", "G03", "G04", "G05", "G20"],
    "second": ["G20", "G21", "G22", "G23", "G59", "G07"],
}
SIZE_LIMITS = {"min_set_size": 3, "max_set_size": 30}


@pytest.fixture
def gmt_path(tmp_path):
    path = tmp_path / "library.gmt"
    lines = ["\t".join([name, "https://example.org", *genes]) for name, genes in GENE_SETS.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def domain_of(source_prefix: str) -> set[str]:
    """Background genes annotated by any set of the source (before the size filter)."""
    genes = set()
    for name, members in GENE_SETS.items():
        if name.startswith(source_prefix):
            genes.update(member for member in members if member in BACKGROUND)
    return genes


def exact_tail(k: int, domain: int, term: int, query: int) -> float:
    """P(X >= k) by summing hypergeometric point probabilities with exact binomials."""
    upper = min(term, query)
    total = sum(math.comb(term, i) * math.comb(domain - term, query - i) for i in range(k, upper + 1))
    return total / math.comb(domain, query)


def test_benjamini_hochberg_matches_a_hand_computation():
    # sorted 0.01, 0.03, 0.04, 0.2 -> 0.04, 0.06, 0.0533, 0.2 -> step-up minimum from the top
    adjusted = benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.2]))
    np.testing.assert_allclose(adjusted, [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])


def test_benjamini_hochberg_matches_scipy_on_random_p_values():
    rng = np.random.default_rng(0)
    p_values = np.concatenate([rng.uniform(size=200), rng.uniform(0, 1e-3, size=20), [1.0, 1.0, 0.0]])
    np.testing.assert_allclose(benjamini_hochberg(p_values), false_discovery_control(p_values), rtol=1e-12)
    assert benjamini_hochberg(np.array([])).size == 0


def test_bonferroni_multiplies_by_the_test_count_and_caps_at_one():
    np.testing.assert_allclose(bonferroni(np.array([0.01, 0.3, 0.002])), [0.03, 0.9, 0.006])
    assert bonferroni(np.array([0.5, 0.6])).max() == 1.0


def test_hypergeometric_tail_matches_exact_sums():
    cases = [(3, 40, 8, 5), (1, 100, 10, 10), (6, 60, 10, 8), (0, 20, 5, 5)]
    for k, domain, term, query in cases:
        expected = exact_tail(k, domain, term, query)
        assert hypergeometric_tail(k, domain, term, query) == pytest.approx(expected, rel=1e-10)


def test_ora_p_values_and_counts_match_an_independent_computation(gmt_path):
    table, info = enrich(GENE_LISTS, BACKGROUND, backend="gmt", gmt_path=gmt_path, sources=["REAC", "WP"],
                         all_results=True, **SIZE_LIMITS)
    assert list(table.columns) == list(ENRICHMENT_COLUMNS)
    assert len(table) > 0
    prefixes = {"REAC": "REACTOME", "WP": "WP"}
    for row in table.itertuples():
        domain = domain_of(prefixes[row.source])
        members = {gene for gene in GENE_SETS[row.term_id] if gene in BACKGROUND}
        query = [gene for gene in GENE_LISTS[row.query] if gene in domain]
        shared = [gene for gene in GENE_LISTS[row.query] if gene in members]
        assert (row.effective_domain_size, row.term_size) == (len(domain), len(members))
        assert (row.query_size, row.intersection_size) == (len(query), len(shared))
        assert row.intersection == ",".join(shared)
        counts = (len(shared), len(domain), len(members), len(query))
        assert row.p_value_raw == pytest.approx(hypergeom.sf(counts[0] - 1, *counts[1:]), rel=1e-10)
        assert row.p_value_raw == pytest.approx(exact_tail(*counts), rel=1e-10)
    assert info["effective_domain_size"] == {"REAC": len(domain_of("REACTOME")), "WP": len(domain_of("WP"))}


def test_correction_runs_per_query_and_source_over_every_tested_set(gmt_path):
    table, info = enrich(GENE_LISTS, BACKGROUND, backend="gmt", gmt_path=gmt_path, sources=["REAC", "WP"],
                         all_results=True, **SIZE_LIMITS)
    for (query, source), rows in table.groupby(["query", "source"]):
        untouched = info["gmt_sets_tested"][source] - len(rows)  # sets the query misses: raw p = 1
        family = np.concatenate([rows["p_value_raw"].to_numpy(), np.ones(untouched)])
        expected = false_discovery_control(family)[: len(rows)]
        np.testing.assert_allclose(rows["p_value"].to_numpy(), expected, rtol=1e-12)
    assert (table["significant"] == (table["p_value"] <= 0.05)).all()


def test_bonferroni_offline_uses_the_same_family(gmt_path):
    table, info = enrich(GENE_LISTS, BACKGROUND, backend="gmt", gmt_path=gmt_path, sources=["REAC"],
                         significance_method="bonferroni", all_results=True, **SIZE_LIMITS)
    expected = np.minimum(table["p_value_raw"] * info["gmt_sets_tested"]["REAC"], 1.0)
    np.testing.assert_allclose(table["p_value"], expected)
    assert info["significance_method"] == "bonferroni"


def test_size_filter_and_background_restriction(gmt_path):
    table, info = enrich(GENE_LISTS, BACKGROUND, backend="gmt", gmt_path=gmt_path, sources=["REAC", "WP"],
                         all_results=True, **SIZE_LIMITS)
    assert {"REACTOME_TINY", "REACTOME_HUGE", "CUSTOM_UNKNOWN_PREFIX"}.isdisjoint(table["term_id"])
    assert info["gmt_sets_tested"] == {"REAC": 3, "WP": 2}
    beta = table[table["term_id"] == "REACTOME_BETA"]
    assert set(beta["term_size"]) == {10}  # the gene outside the background does not count
    loose, loose_info = enrich(GENE_LISTS, BACKGROUND, backend="gmt", gmt_path=gmt_path, sources=["REAC"],
                               all_results=True, min_set_size=1, max_set_size=100)
    assert "REACTOME_HUGE" in set(loose["term_id"]) and loose_info["gmt_sets_tested"] == {"REAC": 5}


def test_only_significant_terms_unless_all_results(gmt_path):
    significant, _ = enrich(GENE_LISTS, BACKGROUND, backend="gmt", gmt_path=gmt_path, sources=["REAC", "WP"],
                            **SIZE_LIMITS)
    everything, _ = enrich(GENE_LISTS, BACKGROUND, backend="gmt", gmt_path=gmt_path, sources=["REAC", "WP"],
                           all_results=True, **SIZE_LIMITS)
    assert significant["significant"].all() and len(significant) > 0
    assert len(everything) > len(significant)
    assert (everything["intersection_size"] > 0).all()
    first = significant[significant["query"] == "first"]
    assert first["term_id"].iloc[0] == "REACTOME_ALPHA"


def test_sources_select_sets_by_name_prefix(gmt_path):
    table, info = enrich(GENE_LISTS, BACKGROUND, backend="gmt", gmt_path=gmt_path, sources=["WP", "GO:BP"],
                         all_results=True, **SIZE_LIMITS)
    assert set(table["source"]) == {"WP"}
    assert info["sources_missing_from_gmt"] == ["GO:BP"]
    assert any("GO:BP" in note for note in info["notes"])


def test_mouse_symbols_meet_human_sets_by_upper_case(gmt_path):
    mouse_background = [gene.lower() for gene in BACKGROUND]
    mouse_lists = {name: [gene.lower() for gene in genes] for name, genes in GENE_LISTS.items()}
    mouse, info = enrich(mouse_lists, mouse_background, organism="mmusculus", backend="gmt", gmt_path=gmt_path,
                         sources=["REAC", "WP"], **SIZE_LIMITS)
    human, _ = enrich(GENE_LISTS, BACKGROUND, backend="gmt", gmt_path=gmt_path, sources=["REAC", "WP"], **SIZE_LIMITS)
    np.testing.assert_allclose(mouse["p_value"], human["p_value"])
    assert len(mouse) > 0
    assert mouse["intersection"].tolist() == [genes.lower() for genes in human["intersection"]]
    assert any("homology by symbol" in note for note in info["notes"])


def test_g_scs_offline_in_auto_becomes_fdr_and_is_noted(gmt_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as unlistened:  # bound, not listening: refused
        unlistened.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{unlistened.getsockname()[1]}"
        _, info = enrich(GENE_LISTS, BACKGROUND, backend="auto", gmt_path=gmt_path, sources=["REAC"],
                         significance_method="g_SCS", gprofiler_url=refused, max_attempts=1, **SIZE_LIMITS)
    assert info["backend"] == "gmt" and info["significance_method"] == "fdr"
    assert any("g:SCS" in note for note in info["notes"])


def test_query_genes_outside_the_background_are_refused(gmt_path):
    with pytest.raises(ScrobinError, match="outside the background") as error:
        enrich({"first": ["G00", "UNSEEN"]}, BACKGROUND, backend="gmt", gmt_path=gmt_path, sources=["REAC"])
    assert "\n" not in str(error.value)
    with pytest.raises(ScrobinError, match="empty"):
        enrich({"first": []}, BACKGROUND, backend="gmt", gmt_path=gmt_path, sources=["REAC"])


def test_malformed_gmt_line_names_the_line(tmp_path):
    path = tmp_path / "bad.gmt"
    path.write_text("REACTOME_OK\turl\tA\tB\nREACTOME_BROKEN\n")
    with pytest.raises(ScrobinError, match="line 2"):
        read_gmt(path)


def test_shipped_library_reads_and_finds_the_proteasome():
    gene_sets = read_gmt(resolve_path(DEFAULTS["gmt_path"]))
    assert len(gene_sets) == 2279
    assert {gene_set.source for gene_set in gene_sets} == {"REAC", "WP"}
    background = sorted(set().union(*(gene_set.genes for gene_set in gene_sets)))
    proteasome = ["PSMA1", "PSMA2", "PSMA3", "PSMA4", "PSMB1", "PSMB2", "PSMC1", "PSMD1", "ACTB", "GAPDH"]
    table, _ = enrich({"proteasome": proteasome}, background, backend="gmt", sources=["REAC", "WP"])
    top = table.iloc[0]
    assert top["p_value"] < 1e-10 and top["intersection_size"] >= 8
    assert "PROTEASOME" in " ".join(table["term_name"].head(30))
