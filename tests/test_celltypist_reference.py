"""CellTypist side by side: its input from every kind of source, fit on scrobin's training cells,
storage without pickle, predictions, markers, and its exact robust accuracy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import make_counts
from test_linear_exact import attacked_accuracy, pgd_restarts

from scrobin.cells import split_rows
from scrobin.contract import LABEL_KEY, SCROBIN_KEY, SPLIT_KEY
from scrobin.data.datasets import load_dataset
from scrobin.data.prepare import prepare_dataset
from scrobin.errors import ScrobinError
from scrobin.model.celltypist_reference import (
    MARKER_COLUMNS,
    celltypist_gene_sd,
    celltypist_input,
    celltypist_linear_terms,
    celltypist_markers,
    celltypist_metrics,
    fit_celltypist,
    load_celltypist,
    predict_celltypist,
    prepared_celltypist_input,
    save_celltypist,
)
from scrobin.robustness.linear_exact import LinearDecision, celltypist_exact_sweep

SPEC = {"source": "x.h5ad", "label_key": "cell_type", "input_state": "auto"}
N_GENES, N_TYPES = 40, 3
BLOCK = N_GENES // N_TYPES  # make_counts over-expresses genes [t * BLOCK, (t + 1) * BLOCK) in type t


def counts_matrix(adata: ad.AnnData) -> np.ndarray:
    return adata.X.toarray() if sp.issparse(adata.X) else np.asarray(adata.X)


def cp10k(counts: np.ndarray, target_sum: float = 1e4) -> np.ndarray:
    return np.log1p(counts / counts.sum(axis=1, keepdims=True) * target_sum)


def prepare(adata: ad.AnnData, params: dict, **spec) -> ad.AnnData:
    return prepare_dataset(adata, "d", {**SPEC, **spec}, params, seed=0)


def with_x(source: ad.AnnData, x, **fields) -> ad.AnnData:
    adata = ad.AnnData(X=x, obs=source.obs.copy(), var=source.var.copy())
    for name, value in fields.items():
        setattr(adata, name, value) if name == "raw" else adata.layers.__setitem__(name, value)
    return adata


def zscore(values: np.ndarray) -> np.ndarray:
    return (values - values.mean(axis=0)) / values.std(axis=0, ddof=1)


def source_kinds(tmp_path: Path) -> dict[str, tuple[ad.AnnData, dict]]:
    """The same cells as every kind of source scrobin accepts, with the spec that reads each."""
    counts_adata = make_counts(n_genes=N_GENES, n_types=N_TYPES)
    counts = counts_matrix(counts_adata)
    lognorm = cp10k(counts).astype(np.float32)
    raw_lognorm = with_x(counts_adata, sp.csr_matrix(lognorm))
    scaled_with_counts_raw = with_x(counts_adata, zscore(lognorm), raw=counts_adata.copy())
    scaled_with_counts_raw.write_h5ad(tmp_path / "scaled.h5ad")
    use_raw_spec = {"source": str(tmp_path / "scaled.h5ad"), "use_raw": True}
    return {
        "counts in X": (counts_adata, {}),
        "counts in a layer": (with_x(counts_adata, lognorm, counts=sp.csr_matrix(counts)), {"layer": "counts"}),
        "log1p counts per 10k": (with_x(counts_adata, sp.csr_matrix(lognorm)), {}),
        "log1p counts per million": (with_x(counts_adata, sp.csr_matrix(cp10k(counts, 1e6).astype(np.float32))), {}),
        "scaled, lognorm .raw": (with_x(counts_adata, zscore(lognorm), raw=raw_lognorm), {}),
        "scaled, counts .raw": (scaled_with_counts_raw, {}),
        "use_raw": (load_dataset({**SPEC, **use_raw_spec}), use_raw_spec),
    }


def test_every_kind_of_source_gives_log1p_counts_per_10k_of_all_genes(tmp_path, prepare_params):
    params = {**prepare_params, "n_top_genes": 15, "min_gene_counts": 200}
    reference = make_counts(n_genes=N_GENES, n_types=N_TYPES)
    expected = pd.DataFrame(cp10k(counts_matrix(reference)), index=reference.obs_names)
    for kind, (source, spec) in source_kinds(tmp_path).items():
        prepared = prepare(source, params, **spec)
        assert prepared.n_vars < N_GENES, kind  # scrobin's model genes are a subset...
        cells = prepared_celltypist_input(source, prepared)
        assert cells.n_vars == N_GENES, kind  # ...CellTypist reads every gene
        assert (cells.obs_names == prepared.obs_names).all()
        assert (cells.obs[SPLIT_KEY] == prepared.obs[SPLIT_KEY]).all()
        assert (cells.obs[LABEL_KEY] == prepared.obs[LABEL_KEY]).all()
        assert sp.issparse(cells.X) and cells.X.dtype == np.float32
        np.testing.assert_allclose(cells.X.toarray(), expected.loc[cells.obs_names].to_numpy(), rtol=1e-5, atol=1e-5,
                                   err_msg=kind)
        assert cells.uns["celltypist_input"]["normalisation"], kind


def test_a_gene_subset_of_log1p_counts_per_10k_is_used_as_given(counts_adata):
    """pbmc68k_reduced's .raw: log1p counts per 10,000 over all genes, of which some were kept."""
    subset = cp10k(counts_matrix(counts_adata))[:, :25].astype(np.float32)
    cells = celltypist_input(with_x(counts_adata[:, :25], sp.csr_matrix(subset)), "lognorm")
    np.testing.assert_array_equal(cells.X.toarray(), subset)
    assert cells.uns["celltypist_input"]["normalisation"].startswith("as given: per-cell totals")


def one_line_error(call) -> str:
    with pytest.raises(ScrobinError) as caught:
        call()
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_sources_celltypist_cannot_read_are_refused(counts_adata, prepare_params):
    lognorm = cp10k(counts_matrix(counts_adata))
    scaled = with_x(counts_adata, zscore(lognorm))
    message = one_line_error(lambda: prepared_celltypist_input(scaled, prepare(scaled, prepare_params)))
    assert "dataset 'd': X holds scaled values and there is no .raw" in message
    # Totals that differ between cells and exceed 10,000: no normalisation CellTypist reads.
    uneven = with_x(counts_adata, sp.csr_matrix(lognorm * np.linspace(1.0, 1.5, counts_adata.n_obs)[:, None]))
    assert "not log1p of counts per 10,000" in one_line_error(lambda: celltypist_input(uneven, "lognorm"))
    prepared = prepare(counts_adata, prepare_params)
    message = one_line_error(lambda: prepared_celltypist_input(counts_adata[5:].copy(), prepared))
    assert "5 prepared cells (e.g. 'cell0') are not in the source" in message
    del prepared.uns[SCROBIN_KEY]
    assert "transform" in one_line_error(lambda: prepared_celltypist_input(counts_adata, prepared))
    assert "input_state 'raw' is unknown" in one_line_error(lambda: celltypist_input(counts_adata, "raw"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """CellTypist input of a prepared counts dataset and a model fitted on its training cells."""
    from scrobin.config import validate_config

    params = validate_config({"datasets": {"d": {"source": "simulate"}}})["prepare"]
    source = make_counts(n_cells=150, n_genes=N_GENES, n_types=N_TYPES)
    prepared = prepare(source, {**params, "n_top_genes": 15})
    cells = prepared_celltypist_input(source, prepared)
    folder = tmp_path_factory.mktemp("run") / "celltypist"
    return cells, fit_celltypist(cells, folder, seed=0), folder


def test_fit_uses_exactly_scrobins_training_cells(reference):
    cells, model, _ = reference
    train = split_rows(cells, "train")
    assert 0 < len(train) < cells.n_obs
    expressed = np.asarray(cells.X[train].sum(axis=0)).ravel() > 0
    np.testing.assert_array_equal(model.features, cells.var_names[expressed])
    training = cells.X[train][:, expressed].toarray().astype(np.float64)
    np.testing.assert_allclose(model.scaler.mean_, training.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(model.scaler.scale_, training.std(axis=0), rtol=1e-5)
    assert sorted(model.cell_types) == sorted(cells.obs[LABEL_KEY].cat.categories)


def test_fit_is_seeded_and_leaves_numpys_global_generator_alone(reference):
    cells, model, folder = reference
    state = np.random.get_state()
    again = fit_celltypist(cells, folder, seed=0)
    after = np.random.get_state()
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2:] == state[2:]
    np.testing.assert_array_equal(again.classifier.coef_, model.classifier.coef_)
    other = fit_celltypist(cells, folder, seed=1)
    assert not np.array_equal(other.classifier.coef_, model.classifier.coef_)


def test_npz_round_trip_predicts_exactly_as_celltypist(reference, tmp_path):
    import celltypist

    cells, model, folder = reference
    path = tmp_path / "celltypist.npz"
    save_celltypist(model, path)
    with np.load(path, allow_pickle=False) as stored:
        assert all(stored[name].dtype != object for name in stored.files)
    restored = load_celltypist(path, folder)
    own = celltypist.annotate(ad.AnnData(X=cells.X.copy(), obs=pd.DataFrame(index=cells.obs_names),
                                         var=pd.DataFrame(index=cells.var_names)), model=model)
    predicted = predict_celltypist(restored, cells, batch_size=7)
    np.testing.assert_array_equal(predicted.labels, own.predicted_labels["predicted_labels"].astype(str))
    np.testing.assert_allclose(predicted.decision, own.decision_matrix.to_numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(predicted.probability, own.probability_matrix.to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(predicted.classes, own.decision_matrix.columns)


def test_linear_terms_reproduce_celltypists_decision_for_two_and_more_classes(reference):
    cells, model, folder = reference
    pair = cells[cells.obs[LABEL_KEY].isin(["type_0", "type_1"]).to_numpy()].copy()
    pair.obs[LABEL_KEY] = pair.obs[LABEL_KEY].cat.remove_unused_categories()
    for fitted, query in ((model, cells), (fit_celltypist(pair, folder, seed=0), pair)):
        terms = celltypist_linear_terms(fitted)
        columns = query.var_names.get_indexer(terms["genes"])
        scores = LinearDecision(**terms).scores(query.X[:, columns])
        np.testing.assert_allclose(scores, predict_celltypist(fitted, query).decision, rtol=1e-9, atol=1e-9)


def test_metrics_of_the_test_split(reference):
    cells, model, _ = reference
    metrics, prediction = celltypist_metrics(model, cells)
    test = split_rows(cells, "test")
    assert metrics["n_cells"] == len(test) == len(prediction.labels)
    assert metrics["accuracy"] == np.mean(prediction.labels == cells.obs[LABEL_KEY].astype(str).to_numpy()[test])
    assert metrics["accuracy"] > 0.9
    assert set(metrics["per_class_f1"]) == {f"type_{t}" for t in range(N_TYPES)}


def test_planted_markers_lead_each_types_ranking(reference):
    _, model, _ = reference
    table = celltypist_markers(model)
    assert list(table.columns) == list(MARKER_COLUMNS)
    for t in range(N_TYPES):
        ranking = table[table["cell_type"] == f"type_{t}"]
        assert ranking["rank"].tolist() == list(range(1, len(model.features) + 1))
        assert ranking["score"].is_monotonic_decreasing
        planted = ranking["gene"].isin([f"gene{g}" for g in range(t * BLOCK, (t + 1) * BLOCK)]).to_numpy()
        # The top three are planted, and most of the top BLOCK (about 4 of 13 by chance).
        assert planted[:3].all() and planted[:BLOCK].sum() >= 10
    kept = [f"gene{g}" for g in range(0, N_GENES, 2)]
    restricted = celltypist_markers(model, top_n=4, genes=kept)
    assert restricted.groupby("cell_type")["rank"].apply(list).tolist() == [[1, 2, 3, 4]] * N_TYPES
    assert set(restricted["gene"]) <= set(kept)


def test_exact_robust_accuracy_starts_at_the_test_accuracy_and_stays_below_pgd(reference):
    cells, model, _ = reference
    table = celltypist_exact_sweep(model, cells, [0.1, 0.3, 0.6])
    metrics, _ = celltypist_metrics(model, cells)
    assert table["accuracy"].iloc[0] == metrics["accuracy"]
    assert table["accuracy"].is_monotonic_decreasing and table["accuracy"].iloc[-1] < metrics["accuracy"]
    decision = LinearDecision(**celltypist_linear_terms(model))
    unit = celltypist_gene_sd(cells, decision.genes)
    train, test = split_rows(cells, "train"), split_rows(cells, "test")
    columns = cells.var_names.get_indexer(decision.genes)
    np.testing.assert_allclose(unit, cells.X[train][:, columns].toarray().std(axis=0, ddof=1), rtol=1e-5)
    x = cells.X[test][:, columns].toarray().astype(np.float64)
    y = pd.Index(decision.classes).get_indexer(cells.obs[LABEL_KEY].astype(str).to_numpy()[test])
    for eps, exact in zip(table["eps"][1:], table["accuracy"][1:]):
        assert exact <= attacked_accuracy(x, y, decision, eps, unit, 0.0, pgd_restarts) + 1e-12


OFFLINE_SCRIPT = """
import logging, os, socket, sys, warnings
import numpy as np, pandas as pd, anndata as ad, scipy.sparse as sp

def refuse(*args, **kwargs):
    raise OSError("no network in this test")

socket.socket.connect = refuse
socket.create_connection = refuse
from scrobin.model.celltypist_reference import (celltypist_input, fit_celltypist, load_celltypist,
                                                predict_celltypist, save_celltypist)

assert "celltypist" not in sys.modules
filters, handlers = list(warnings.filters), list(logging.getLogger().handlers)

folder = sys.argv[1]
rng = np.random.default_rng(0)
counts = rng.poisson(3.0, (60, 12)).astype(np.float32)
counts[:30, :4] *= 8
obs = pd.DataFrame({"cell_type": pd.Categorical(["a"] * 30 + ["b"] * 30), "split": "train"},
                   index=[f"c{i}" for i in range(60)])
source = ad.AnnData(X=sp.csr_matrix(counts), obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(12)]))
cells = celltypist_input(source, "counts")
model = fit_celltypist(cells, folder, seed=0)
save_celltypist(model, os.path.join(folder, "model.npz"))
labels = predict_celltypist(load_celltypist(os.path.join(folder, "model.npz"), folder), cells).labels
assert (labels == cells.obs["cell_type"].astype(str).to_numpy()).mean() > 0.9
assert list(warnings.filters) == filters, "CellTypist's warning filters leaked"
assert logging.getLogger().handlers == handlers, "CellTypist configured the root logger"
assert "CELLTYPIST_FOLDER" not in os.environ
print("offline ok")
"""


def test_training_and_annotating_run_offline_and_keep_celltypists_home_in_the_run(tmp_path):
    home, folder = tmp_path / "home", tmp_path / "run" / "celltypist"
    home.mkdir()
    environment = {**os.environ, "HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    environment.pop("CELLTYPIST_FOLDER", None)
    result = subprocess.run([sys.executable, "-c", OFFLINE_SCRIPT, str(folder)], env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "offline ok" in result.stdout
    assert not (home / ".celltypist").exists()
    assert (folder / "data" / "models").is_dir() and not any((folder / "data" / "models").iterdir())
