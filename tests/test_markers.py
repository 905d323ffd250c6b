"""Known marker genes: the three file formats, their error messages, and recovery scored against them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scrobin.config import validate_config
from scrobin.errors import ScrobinError
from scrobin.evaluation.ground_truth import ALL_TYPES, recovery_reference, recovery_table
from scrobin.data.markers import check_marker_types, marker_coverage, read_markers
from scrobin.preflight import check_sources

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "scrobin" / "resources" / "markers" / "pbmc68k_bulk_labels.tsv"
TEST_MARKERS = REPO / "tests" / "data" / "pbmc_small_markers.tsv"
MARKERS = {"CD14+ Monocyte": ["LYZ", "CD14"], "CD19+ B": ["MS4A1", "CD79A"], "NK cell": ["GNLY"]}


def write_formats(folder: Path) -> dict[str, Path]:
    """MARKERS in each format; TSV with an extra column, a repeated gene and padding to strip."""
    paths = {fmt: folder / f"markers.{fmt}" for fmt in ("json", "tsv", "gmt")}
    paths["json"].write_text(json.dumps(MARKERS))
    rows = [(cell_type, gene) for cell_type, genes in MARKERS.items() for gene in genes]
    paths["tsv"].write_text("cell_type\tgene\tsource\n" + "".join(f"{t}\t{g} \tsome paper\n" for t, g in rows)
                            + "CD14+ Monocyte\tLYZ\trepeated\n")
    paths["gmt"].write_text("".join(f"{t}\tknown markers\t" + "\t".join(genes) + "\n" for t, genes in MARKERS.items()))
    return paths


def test_json_tsv_and_gmt_parse_to_the_same_mapping(tmp_path):
    parsed = {fmt: read_markers(path) for fmt, path in write_formats(tmp_path).items()}
    assert parsed["json"] == parsed["tsv"] == parsed["gmt"] == MARKERS
    txt = tmp_path / "markers.txt"
    txt.write_text(write_formats(tmp_path)["tsv"].read_text())
    assert read_markers(txt) == MARKERS


@pytest.mark.parametrize("name, content, message", [
    ("m.csv", "cell_type,gene\nB,MS4A1\n", "markers file '.*m.csv' has suffix '.csv': use .json .*, .tsv/.txt .* or .gmt"),
    ("m.json", '{"B": ["MS4A1",]}', r"markers file '.*m.json' is not valid JSON \(.*line 1.*\): write one object"),
    ("m.json", '["MS4A1"]', "markers file '.*m.json' must hold one JSON object mapping each cell type to a list"),
    ("m.json", '{"B": "MS4A1"}', "must hold one JSON object mapping each cell type to a list of gene names"),
    ("m.tsv", "celltype\tgene\nB\tMS4A1\n",
     r"markers file '.*m.tsv' lacks the column\(s\) cell_type \(its header: celltype, gene\): write a tab-separated"),
    ("m.tsv", "cell_type,gene\nB,MS4A1\n", r"lacks the column\(s\) cell_type, gene \(its header: cell_type,gene\)"),
    ("m.tsv", "cell_type\tgene\nB\t\n", "markers file '.*m.tsv' has an empty cell type or gene name .*type 'B', gene ''"),
    ("m.tsv", "", "markers file '.*m.tsv' is not a tab-separated table"),
    ("m.tsv", "cell_type\tgene\n", "markers file '.*m.tsv' names no cell type"),
    ("m.gmt", "B\tMS4A1\n", "markers file '.*m.gmt' line 1 is not a GMT gene set: write 'cell type<TAB>description"),
    ("m.gmt", "B\tdesc\tMS4A1\nT\tdesc\t\n", "markers file '.*m.gmt' line 2 is not a GMT gene set"),
])
def test_a_file_that_cannot_be_parsed_names_the_file_and_the_layout(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ScrobinError, match=message) as caught:
        read_markers(path)
    assert "\n" not in str(caught.value)


def test_types_the_data_lacks_are_named_with_the_data_types():
    labels = pd.Series(["CD19+ B", "CD14+ Monocyte", "CD19+ B"])
    with pytest.raises(ScrobinError) as caught:
        check_marker_types(MARKERS, labels, "pbmc", "m.tsv")
    assert str(caught.value) == (
        "dataset 'pbmc': markers file 'm.tsv' names cell type(s) the data lacks: 'NK cell'; the data's types are "
        "'CD14+ Monocyte', 'CD19+ B': rename or remove them in the markers file")
    check_marker_types(MARKERS, [*labels, "NK cell", "T cell"], "pbmc", "m.tsv")  # extra data types are fine


def small_h5ad(tmp_path: Path, labels: list[str]) -> Path:
    rng = np.random.default_rng(0)
    adata = ad.AnnData(rng.poisson(2.0, (len(labels) * 10, 30)).astype(np.float32),
                       obs=pd.DataFrame({"type": np.repeat(labels, 10)}, index=[f"c{i}" for i in range(len(labels) * 10)]),
                       var=pd.DataFrame(index=["LYZ", "MS4A1", *(f"g{i}" for i in range(28))]))
    path = tmp_path / "cells.h5ad"
    adata.write_h5ad(path)
    return path


def config_with_markers(tmp_path: Path, markers: Path, labels: list[str]) -> dict:
    source = small_h5ad(tmp_path, labels)
    return {"datasets": {"d": {"source": str(source), "label_key": "type", "markers": str(markers)}}}


def test_validation_stops_on_a_bad_markers_file_before_any_data_is_read(tmp_path):
    bad = tmp_path / "m.tsv"
    bad.write_text("type\tgene\nB\tMS4A1\n")
    config = config_with_markers(tmp_path, bad, ["CD19+ B", "CD14+ Monocyte"])
    with pytest.raises(ScrobinError, match=r"^config: datasets.d.markers: markers file '.*m.tsv' lacks the column\(s\) cell_type"):
        validate_config(config)
    config["datasets"]["d"]["markers"] = str(tmp_path / "absent.tsv")
    with pytest.raises(ScrobinError, match="config: datasets.d.markers file '.*absent.tsv' does not exist: fix the path"):
        validate_config(config)
    simulated = {"datasets": {"sim": {"source": "simulate", "markers": str(write_formats(tmp_path)["tsv"])}}}
    with pytest.raises(ScrobinError, match="config: datasets.sim.markers is for real data; .*own key genes: remove markers"):
        validate_config(simulated)


def test_source_check_stops_on_marker_types_the_data_lacks(tmp_path):
    markers = write_formats(tmp_path)["gmt"]
    config = validate_config(config_with_markers(tmp_path, markers, ["CD19+ B", "CD14+ Monocyte"]))
    with pytest.raises(ScrobinError, match=r"dataset 'd': markers file '.*markers.gmt' names cell type\(s\) the data "
                                           r"lacks: 'NK cell'; the data's types are 'CD14\+ Monocyte', 'CD19\+ B'"):
        check_sources(config, cache_dir=tmp_path / "cache")
    config = validate_config(config_with_markers(tmp_path, markers, ["CD19+ B", "CD14+ Monocyte", "NK cell"]))
    check_sources(config, cache_dir=tmp_path / "cache")
    # Editing the markers file invalidates the cached pass: the check runs again and stops.
    markers.write_text(markers.read_text() + "pDC\tmarkers\tLILRA4\n")
    with pytest.raises(ScrobinError, match="lacks: 'pDC'"):
        check_sources(config, cache_dir=tmp_path / "cache")


GENES = [f"g{i}" for i in range(10)]


def prepared_cells(cell_types: list[str]) -> ad.AnnData:
    """A prepared dataset's shape as recovery sees it: the model's genes and cell types."""
    obs = pd.DataFrame({"cell_type": pd.Categorical(np.repeat(cell_types, 2))},
                       index=[f"c{i}" for i in range(2 * len(cell_types))])
    return ad.AnnData(np.zeros((len(obs), len(GENES)), dtype=np.float32), obs=obs, var=pd.DataFrame(index=GENES),
                      uns={"scrobin": {"label_key": "cell_type"}})


def ranking(orders: dict[str, list[str]]) -> pd.DataFrame:
    return pd.DataFrame([{"cell_type": cell_type, "gene": gene, "rank": rank}
                         for cell_type, genes in orders.items() for rank, gene in enumerate(genes, start=1)])


def test_recovery_against_markers_matches_hand_computed_hits_and_hypergeometric_p(tmp_path):
    markers = tmp_path / "markers.json"
    # A: g0 and g3 are ranked, CD14 is not among the model's genes; B: g5; C has no markers; D was dropped.
    markers.write_text(json.dumps({"A": ["g0", "g3", "CD14"], "B": ["g5"], "D": ["g9"]}))
    truth, source, notes, n_given = recovery_reference(prepared_cells(["A", "B", "C"]), markers)
    assert truth == {"A": ["g0", "g3"], "B": ["g5"]}  # CD14 is no model gene: it cannot be ranked
    assert n_given == {"A": 3, "B": 1}  # but it was given: the denominator says so
    assert source == "markers: markers.json"
    assert notes == [
        "1 of 5 marker genes are not among the model's 10 genes (after highly-variable-gene selection) and cannot "
        "be ranked: CD14",
        "marker type(s) not among the model's cell types (dropped as rare), not scored: D",
        "cell type(s) without markers, not scored: C",
    ]
    order = ["g0", "g1", "g2", "g3", "g4", "g6", "g7", "g8", "g9", "g5"]
    table = ranking({"A": order, "B": ["g5", *[gene for gene in GENES if gene != "g5"]], "C": GENES})
    result = recovery_table({"saliency": table}, truth, top_n=3, regime="pgd", source=source,
                            n_given=n_given).set_index("cell_type")
    assert list(result.columns[:3]) == ["regime", "key_genes_source", "method"]
    assert set(result["key_genes_source"]) == {"markers: markers.json"}
    a, b, total = result.loc["A"], result.loc["B"], result.loc[ALL_TYPES]
    # A: top 3 of 10 genes holds g0, one of the 2 ranked markers: P(X >= 1) = 1 - C(8,3)/C(10,3) = 64/120.
    assert (a["n_key_genes_given"], a["n_key_genes"], a["recovered"], a["expected"]) == (3, 2, 1, pytest.approx(0.6))
    assert a["p_value"] == pytest.approx(64 / 120) == pytest.approx(stats.hypergeom.sf(0, 10, 2, 3))
    assert (a["precision_at_n"], a["recall_at_n"]) == pytest.approx((1 / 3, 1 / 2))
    assert a["auprc"] == pytest.approx((1 / 1 + 2 / 4) / 2)  # hits at ranks 1 and 4
    # B: its one marker first: P(X >= 1) = 3/10.
    assert (b["recovered"], b["expected"], b["p_value"], b["auprc"]) == (1, pytest.approx(0.3), pytest.approx(0.3), 1.0)
    # Both: P(X_A + X_B >= 2) = 1 - P(0,0) - P(1,0) - P(0,1) = 1 - (56/120)(0.7 + 0.7 + 0.3).
    assert (total["n_key_genes_given"], total["n_key_genes"]) == (4, 3)
    assert (total["recovered"], total["expected"]) == (2, pytest.approx(0.9))
    assert total["p_value"] == pytest.approx(1 - 56 / 120 * 1.7)
    assert "C" not in result.index and "D" not in result.index


def test_markers_naming_none_of_the_model_types_stop_recovery(tmp_path):
    markers = tmp_path / "markers.json"
    markers.write_text(json.dumps({"D": ["g9"]}))
    with pytest.raises(ScrobinError, match=r"names none of the model's cell types \(A, B\)"):
        recovery_reference(prepared_cells(["A", "B"]), markers)


def test_full_coverage_logs_nothing_and_a_type_without_ranked_markers_is_named():
    assert marker_coverage({"A": ["g0"], "B": ["g1"]}, GENES, ["A", "B"]) == []
    assert marker_coverage({"A": ["g0"], "B": ["CD4", "FOXP3"]}, GENES, ["A", "B"])[1] == (
        "cell type(s) with no marker among the model's genes, scored as 0 recovered with NaN recall and AUPRC: B")


def test_shipped_pbmc68k_markers_cover_its_types_with_a_source_for_every_gene():
    import scanpy as sc

    pbmc = sc.datasets.pbmc68k_reduced()
    markers = read_markers(SHIPPED)
    assert sorted(markers) == sorted(pbmc.obs["bulk_labels"].unique())
    table = pd.read_csv(SHIPPED, sep="\t", dtype=str, keep_default_na=False)
    assert list(table.columns) == ["cell_type", "gene", "source"] and (table["source"] != "").all()
    readme = (SHIPPED.parent / "README.md").read_text()
    keys = {key.strip() for cell in table["source"] for key in cell.split(";")}
    assert all(f"**{key}**" in readme for key in keys), keys
    # The README's list of genes outside pbmc68k's 765 is the true one.
    absent = [gene for gene in dict.fromkeys(table["gene"]) if gene not in pbmc.var_names]
    listed = re.search(r"Not in pbmc68k_reduced's 765 genes\*\*.*?: (.*?)\. What", readme, re.S).group(1)
    assert [gene.strip() for gene in listed.replace("\n", " ").split(",")] == absent
    assert len(absent) < len(set(table["gene"])) / 2


def test_test_markers_are_the_shipped_rows_of_the_test_data_types():
    test_data = ad.read_h5ad(REPO / "tests" / "data" / "pbmc_small.h5ad")
    shipped = pd.read_csv(SHIPPED, sep="\t", dtype=str)
    subset = pd.read_csv(TEST_MARKERS, sep="\t", dtype=str)
    types = set(test_data.obs["bulk_labels"].astype(str))
    pd.testing.assert_frame_equal(subset, shipped[shipped["cell_type"].isin(types)].reset_index(drop=True))
    assert set(subset["cell_type"]) == types
