"""validate_enrichment_config: defaults filled in, every bad value refused with one line naming it."""

from __future__ import annotations

import pytest

from scrobin.enrichment import DEFAULTS, enrich_with_config, validate_enrichment_config
from scrobin.enrichment.config import validate_organism
from scrobin.errors import ScrobinError


@pytest.fixture
def gmt_path(tmp_path):
    path = tmp_path / "library.gmt"
    path.write_text("REACTOME_ONE\turl\tA\tB\tC\nWP_TWO\turl\tC\tD\tE\n")
    return str(path)


def test_defaults_fill_an_empty_block():
    settings = validate_enrichment_config(None)
    # The default gene sets are the shipped file, found wherever scrobin is installed.
    assert settings.pop("gmt_path").endswith(DEFAULTS["gmt_path"])
    assert settings == {key: value for key, value in DEFAULTS.items() if key != "gmt_path"}
    assert settings["sources"] == ["GO:BP", "GO:CC", "REAC", "WP"]
    assert settings["significance_method"] == "fdr" and settings["backend"] == "auto"


def test_given_values_override_defaults(gmt_path):
    block = {"backend": "gmt", "gmt_path": gmt_path, "sources": ("WP",), "threshold": 0.1}
    settings = validate_enrichment_config(block)
    assert settings["sources"] == ["WP"] and settings["threshold"] == 0.1
    assert settings["max_attempts"] == DEFAULTS["max_attempts"]


@pytest.mark.parametrize(
    ("block", "names"),
    [
        ({"treshold": 0.05}, "unknown key 'treshold' in enrichment: did you mean 'threshold'?"),
        ({"backend": "david"}, "enrichment.backend = 'david' is not allowed: use one of auto, gprofiler, gmt"),
        ({"sources": ["GO:XX"]}, "enrichment.sources.0 = 'GO:XX' is not allowed: use one of GO:BP"),
        ({"sources": "GO:BP"}, "enrichment.sources = 'GO:BP' has the wrong type: expected array"),
        ({"sources": []}, "enrichment.sources must list at least 1"),
        ({"sources": ["REAC", "REAC"]}, "enrichment.sources lists an item twice"),
        ({"significance_method": "holm"}, "enrichment.significance_method = 'holm' is not allowed"),
        ({"threshold": 0}, "enrichment.threshold = 0 is out of range: use a number > 0"),
        ({"threshold": 1.5}, "enrichment.threshold = 1.5 is out of range: use a number <= 1"),
        ({"threshold": "0.05"}, "enrichment.threshold = '0.05' has the wrong type: expected number"),
        ({"threshold": True}, "enrichment.threshold = True has the wrong type: expected number"),
        ({"min_set_size": 0}, "enrichment.min_set_size = 0 is out of range: use a number >= 1"),
        ({"max_attempts": 2.5}, "enrichment.max_attempts = 2.5 has the wrong type: expected integer"),
        ({"min_set_size": 10, "max_set_size": 5}, "max_set_size is below min_set_size"),
        ({"timeout_s": 0}, "enrichment.timeout_s = 0 is out of range: use a number > 0"),
        ({"backoff_s": -1}, "enrichment.backoff_s = -1 is out of range: use a number >= 0"),
        ({"gprofiler_url": "biit.cs.ut.ee"}, "enrichment.gprofiler_url = 'biit.cs.ut.ee' does not match '^https?://'"),
        ({"all_results": "yes"}, "enrichment.all_results = 'yes' has the wrong type: expected boolean"),
        ({"cache_dir": 3}, "enrichment.cache_dir = 3 has the wrong type"),
        ({"gmt_path": "/no/such/file.gmt"}, "gmt_path '/no/such/file.gmt' does not exist"),
    ],
)
def test_bad_values_are_refused_with_one_line(block, names):
    with pytest.raises(ScrobinError) as error:
        validate_enrichment_config({"backend": "gprofiler", **block} if "gmt_path" not in block else block)
    message = str(error.value)
    assert names in message
    assert "\n" not in message and ": " in message  # one line: the problem, then the fix


def test_missing_gmt_is_fine_when_only_gprofiler_is_asked():
    settings = validate_enrichment_config({"backend": "gprofiler", "gmt_path": "/no/such/file.gmt"})
    assert settings["backend"] == "gprofiler"


def test_offline_backend_needs_a_source_the_gmt_has(gmt_path):
    with pytest.raises(ScrobinError, match="no sets for enrichment.sources .*add one of REAC, WP"):
        validate_enrichment_config({"backend": "auto", "gmt_path": gmt_path, "sources": ["GO:BP"]})


def test_gmt_without_known_prefixes_is_refused(tmp_path):
    path = tmp_path / "custom.gmt"
    path.write_text("MYSET\turl\tA\tB\n")
    with pytest.raises(ScrobinError, match="no set named with a known prefix"):
        validate_enrichment_config({"backend": "gmt", "gmt_path": str(path), "sources": ["REAC"]})


def test_g_scs_is_refused_for_the_offline_backend_only(gmt_path):
    with pytest.raises(ScrobinError, match="g_SCS needs g:Profiler"):
        validate_enrichment_config({"backend": "gmt", "gmt_path": gmt_path, "significance_method": "g_SCS"})
    settings = validate_enrichment_config({"backend": "auto", "gmt_path": gmt_path, "significance_method": "g_SCS"})
    assert settings["significance_method"] == "g_SCS"


def test_organism_ids_are_checked():
    assert validate_organism("mmusculus") == "mmusculus"
    for bad in ("Homo sapiens", "", None, "hsapiens1"):
        with pytest.raises(ScrobinError, match="is not a g:Profiler organism id"):
            validate_organism(bad)


def test_enrich_with_config_passes_the_block_through(gmt_path):
    table, info = enrich_with_config(
        {"cells": ["A", "B", "C"]},
        ["A", "B", "C", "D", "E", "F", "G", "H"],
        "hsapiens",
        {"backend": "gmt", "gmt_path": gmt_path, "sources": ["REAC", "WP"], "min_set_size": 2, "all_results": True},
    )
    assert info["backend"] == "gmt" and info["requested_backend"] == "gmt"
    assert set(table["term_id"]) == {"REACTOME_ONE", "WP_TWO"}
