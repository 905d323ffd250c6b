"""Labelling query cells with trained models: the labelled .h5ad, the scores and the scrobin annotate command."""

import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO, make_counts
from scipy.special import softmax

from scrobin.cells import split_rows
from scrobin.cli import main
from scrobin.config import validate_config
from scrobin.contract import ANNOTATION_KEY
from scrobin.data.checks import query_subject
from scrobin.data.model_input import model_input
from scrobin.data.prepare import prepare_dataset
from scrobin.errors import ScrobinError
from scrobin.inference import predict_logits
from scrobin.model.annotate import annotate_query, label_columns, load_annotation_models, score_labels
from scrobin.model.classifier import fit_classifier
from scrobin.model.store import save_model

SPEC = {"source": "x.h5ad", "label_key": "cell_type", "input_state": "auto"}
SUBJECT = query_subject("d", "q")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished run's layout: results/d/prepared.h5ad and models of two seeds (standard and fgsm
    for seed 0, standard for seed 1), trained on tiny counts."""
    folder = tmp_path_factory.mktemp("run")
    source = make_counts(n_cells=150, n_genes=60, seed=2)
    source.layers["counts"] = source.X.copy()
    source.obs["donor"] = "D1"
    config = validate_config({
        "datasets": {"d": {"source": "simulate"}}, "prepare": {"n_top_genes": 20},
        "model": {"hidden_sizes": [16], "dropout": [0.0]}, "attack": {"eps": 0.2, "batch_size": 64},
        "train": {"batch_size": 32, "max_epochs": 8, "learning_rate": 0.01}, "device": "cpu",
    })
    prepared = prepare_dataset(source, "d", SPEC, config["prepare"], seed=0)
    (folder / "results" / "d").mkdir(parents=True)
    prepared.write_h5ad(folder / "results" / "d" / "prepared.h5ad")
    paths = {}
    for seed, regime in ((0, "standard"), (0, "fgsm"), (1, "standard")):
        model, metadata, _, _ = fit_classifier(prepared, {**config, "seed": seed}, regime, torch.device("cpu"))
        paths[seed, regime] = folder / "results" / "d" / f"seed{seed}" / "models" / f"{regime}.pt"
        save_model(paths[seed, regime], model, metadata)
    return folder, source, prepared, paths


def test_the_labelled_query_keeps_its_data_and_adds_columns_per_model(run):
    _, source, prepared, paths = run
    models = load_annotation_models([paths[0, "standard"], paths[0, "fgsm"]])
    assert [model.name for model in models] == ["standard", "fgsm"]
    query = source[::-1].copy()
    result = annotate_query(query, models, {"layer": "counts"}, SUBJECT, threshold=0.6, min_shared_genes=0.5)
    labelled = result.to_adata(query)
    assert labelled.obs.columns.tolist() == ["cell_type", "donor", *label_columns("standard").values(),
                                             *label_columns("fgsm").values()]
    assert label_columns("fgsm") == {"label": "scrobin_fgsm_label", "probability": "scrobin_fgsm_probability",
                                     "unassigned": "scrobin_fgsm_unassigned"}
    assert (labelled.X != query.X).nnz == 0 and labelled.var.equals(query.var) and "counts" in labelled.layers
    assert labelled.obs_names.equals(query.obs_names)
    # The query is the reference's own cells, so each model sees exactly its training input.
    rows = query.obs_names.get_indexer(prepared.obs_names)
    for model in models:
        columns = label_columns(model.name)
        probabilities = softmax(predict_logits(model.model, model_input(prepared)).astype(np.float64), axis=1)
        label = labelled.obs[columns["label"]]
        assert label.cat.categories.tolist() == model.metadata["classes"]
        assert np.array_equal(label.cat.codes.to_numpy()[rows], probabilities.argmax(1))
        probability = labelled.obs[columns["probability"]].to_numpy()
        assert np.allclose(probability[rows], probabilities.max(1), atol=1e-6)
        assert np.array_equal(labelled.obs[columns["unassigned"]].to_numpy(), probability < 0.6)
    record = labelled.uns[ANNOTATION_KEY]
    assert record["threshold"] == 0.6 and record["models"]["fgsm"]["regime"] == "fgsm"
    assert record["models"]["standard"]["replay"] == record["models"]["fgsm"]["replay"] == "0"
    assert record["replays"]["0"]["missing_share"] == 0 and record["replays"]["0"]["steps"][-1] == "scale"


def test_scores_count_labels_not_in_the_reference_instead_of_scoring_them(run):
    _, source, prepared, paths = run
    models = load_annotation_models([paths[0, "standard"]])
    test = prepared.obs_names[split_rows(prepared, "test")]
    query = source[test].copy()
    spec = {"layer": "counts", "label_key": "cell_type"}
    (score,) = annotate_query(query, models, spec, SUBJECT, 0.5, 0.5).scores.to_dict("records")
    # The reference's own test cells: the model's recorded test metrics, exactly.
    expected = models[0].metadata["metrics"]
    assert score["accuracy"] == expected["accuracy"] and score["macro_f1"] == pytest.approx(expected["macro_f1"])
    assert (score["regime"], score["seed"], score["model"], score["n_not_in_reference"]) == ("standard", 0, "standard", 0)
    labels = query.obs["cell_type"].astype(str).to_numpy()
    labels[:3] = "platelet"
    query.obs["cell_type"] = labels
    result = annotate_query(query, models, spec, SUBJECT, 0.5, 0.5)
    (score,) = result.scores.to_dict("records")
    assert score["n_cells"] == len(test) - 3 and score["n_not_in_reference"] == 3
    record = result.record["models"]["standard"]["score"]
    assert record["not_in_reference_labels"] == ["platelet"] and record["not_in_reference_cells"] == [3]


def test_score_labels_on_a_hand_count():
    labels = pd.Series(["a", "a", "b", "b", "x", "b"])
    score = score_labels(labels, np.array([0, 1, 1, 1, 0, 0]), np.array([1, 0, 0, 0, 1, 1], bool), ["a", "b"])
    assert score["accuracy"] == 3 / 5 and score["n_cells"] == 5 and score["n_unassigned"] == 2
    assert score["macro_f1"] == pytest.approx(np.mean([1 / 2, 2 / 3]))  # a: 1 of 2 right, 1 false; b: 2 of 3, 1 false
    assert score["not_in_reference"] == {"x": 1}
    nothing = score_labels(pd.Series(["x"]), np.array([0]), np.array([False]), ["a"])
    assert np.isnan(nothing["accuracy"]) and nothing["n_cells"] == 0


def test_replicates_of_a_regime_get_a_column_each(run):
    _, source, _, paths = run
    models = load_annotation_models([paths[0, "standard"], paths[1, "standard"], paths[0, "fgsm"]])
    assert [model.name for model in models] == ["standard_seed0", "standard_seed1", "fgsm"]
    with pytest.raises(ScrobinError, match="both label as 'standard_seed0'"):
        load_annotation_models([paths[0, "standard"], paths[0, "standard"], paths[1, "standard"]])


def test_missing_genes_are_recorded_and_too_many_refused(run):
    _, source, prepared, paths = run
    models = load_annotation_models([paths[0, "standard"]])
    genes = models[0].metadata["genes"]
    query = source[:, ~source.var_names.isin(genes[:4])].copy()
    result = annotate_query(query, models, {"layer": "counts"}, SUBJECT, 0.5, 0.5)
    replay = result.record["replays"]["0"]
    assert replay["missing_genes"] == genes[:4] and replay["missing_share"] == pytest.approx(0.2)
    assert replay["missing_gene_rule"].startswith("a missing model gene is 0 in the model input: its training mean")
    with pytest.raises(ScrobinError, match="hold 16 of the model's 20 genes \\(80%\\), fewer than annotation.min_shared_genes 90%"):
        annotate_query(query, models, {"layer": "counts"}, SUBJECT, 0.5, 0.9)
    with pytest.raises(ScrobinError, match="between 0 and 1"):
        annotate_query(query, models, {"layer": "counts"}, SUBJECT, 1.5, 0.5)


@pytest.mark.parametrize("backed", [False, True])
def test_the_written_file_reads_back(run, tmp_path, backed):
    _, source, _, paths = run
    source.write_h5ad(tmp_path / "query.h5ad")
    query = ad.read_h5ad(tmp_path / "query.h5ad", backed="r" if backed else None)
    result = annotate_query(query, load_annotation_models([paths[0, "fgsm"]]), {"layer": "counts", "label_key": "cell_type"},
                            SUBJECT, 0.5, 0.5)
    result.write(query, tmp_path / "labelled.h5ad")
    written = ad.read_h5ad(tmp_path / "labelled.h5ad")
    expected = result.to_adata(query)
    columns = list(result.obs.columns)
    pd.testing.assert_frame_equal(written.obs[columns], expected.obs[columns])
    assert written.obs["cell_type"].tolist() == source.obs["cell_type"].tolist() and (written.X != source.X).nnz == 0
    assert written.uns[ANNOTATION_KEY]["models"]["fgsm"]["score"]["accuracy"] == result.scores["accuracy"][0]


def test_scrobin_annotate_labels_a_file_from_the_command_line(run, tmp_path, capsys):
    folder, source, _, _ = run
    query = source[:40].copy()
    query.write_h5ad(tmp_path / "donor2.h5ad")
    out = tmp_path / "labelled" / "donor2.h5ad"
    arguments = ["annotate", "--run", str(folder), "--dataset", "d", "--query", str(tmp_path / "donor2.h5ad"),
                 "--out", str(out), "--layer", "counts", "--label-key", "cell_type", "--threshold", "0.4",
                 "--scores", str(tmp_path / "scores.tsv")]
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    labelled = ad.read_h5ad(out)
    assert {"scrobin_standard_label", "scrobin_fgsm_probability"} <= set(labelled.obs.columns)
    assert labelled.uns[ANNOTATION_KEY]["threshold"] == 0.4
    assert "standard: 40 cells labelled" in printed and "fgsm: accuracy" in printed
    assert pd.read_csv(tmp_path / "scores.tsv", sep="\t")["regime"].tolist() == ["standard", "fgsm"]
    assert main([*arguments[:5], "--seed", "1", "--regime", "standard", *arguments[5:]]) == 0
    assert "scrobin_standard_label" in ad.read_h5ad(out).obs and "scrobin_fgsm_label" not in ad.read_h5ad(out).obs


@pytest.mark.parametrize(("change", "error"), [
    ({"--dataset": "pbmc"}, "scrobin: run '{run}' has no results for dataset 'pbmc' (datasets there: d): fix --run or --dataset"),
    ({"--seed": "4"}, "scrobin: dataset 'd' has no models of seed 4 (seeds: 0, 1): fix --seed"),
    ({"--regime": "pgd"}, "scrobin: dataset 'd', seed 0 has no pgd model (models: standard, fgsm): fix --regime or finish the run"),
    ({"--layer": "raw"}, "scrobin: query '{query}': layer 'raw' does not exist (layers: counts): fix --layer"),
])
def test_scrobin_annotate_errors_are_one_line(run, tmp_path, capsys, change, error):
    folder, source, _, _ = run
    source.write_h5ad(tmp_path / "q.h5ad")
    options = {"--run": str(folder), "--dataset": "d", "--query": str(tmp_path / "q.h5ad"),
               "--out": str(tmp_path / "out.h5ad"), "--layer": "counts", **change}
    assert main(["annotate", *[part for pair in options.items() for part in pair]]) == 1
    assert capsys.readouterr().err == error.format(run=folder, query=tmp_path / "q.h5ad") + "\n"


def test_help_speaks_to_a_biologist():
    result = subprocess.run([sys.executable, "-m", "scrobin.cli", "annotate", "--help"], capture_output=True,
                            text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0
    for words in ("scrobin_pgd_label", "the predicted cell type", "--gene-symbols COLUMN", "--threshold", "example:"):
        assert words in result.stdout
