"""The real DAG run by Snakemake on the tiny test config, in a temporary directory.

One session-wide run feeds every check here, so CI exercises every stage once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml

from conftest import REPO, snakemake
from scrobin.contract import GROUND_TRUTH_KEY, SCROBIN_KEY, SPLIT_KEY
from scrobin.data.preprocess import apply_transform
from scrobin.model.training import batches
from scrobin.data.model_input import model_input

pytestmark = pytest.mark.workflow


def test_dry_run_lists_the_dag(tmp_path):
    result = snakemake(tmp_path, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    for rule in ("prepare", "train", "adv_train"):
        assert rule in result.stdout
    # Small datasets run every job on one thread (Snakemake prints "threads: N" only above one), so
    # a 2-core laptop runs two jobs at once; only training on an atlas-sized source takes more.
    assert "threads:" not in result.stdout


def test_lint_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "--lint", "--configfile", str(REPO / "config" / "test.yaml")],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    assert "Lints for" not in result.stdout + result.stderr, result.stdout[-3000:]


def test_prepared_output_contract(finished_run):
    prepared = ad.read_h5ad(finished_run / "results/tiny/prepared.h5ad")
    assert prepared.X.dtype == "float32"
    assert set(prepared.obs[SPLIT_KEY]) == {"train", "validation", "test"}
    assert prepared.obs["cell_type"].nunique() == 3
    assert "scale_mean" in prepared.uns[SCROBIN_KEY]["transform"]
    assert all(len(genes) for genes in prepared.uns[GROUND_TRUTH_KEY]["key_genes"].values())


def test_prepared_matrix_stays_sparse_and_batches_replay_the_transform(finished_run):
    """The sparse pbmc input's X stays sparse log-normalised; the model input the training loop
    reads batch by batch equals ``apply_transform`` of the source cells."""
    prepared = ad.read_h5ad(finished_run / "results/pbmc/prepared.h5ad")
    assert sp.isspmatrix_csr(prepared.X) and prepared.X.dtype == "float32"
    assert not prepared.uns["scrobin"]["x_scaled"] and "lognorm" not in prepared.layers
    transform = prepared.uns["scrobin"]["transform"]
    assert "scale" in transform["steps"]
    source = ad.read_h5ad(REPO / "tests/data/pbmc_small.h5ad")[prepared.obs_names]
    expected = apply_transform(source.X, source.var_names, transform)
    order = np.concatenate(list(batches(prepared.n_obs, 64, np.random.default_rng(0))))
    inputs = model_input(prepared)
    batched = np.concatenate([inputs[rows] for rows in batches(prepared.n_obs, 64, np.random.default_rng(0))])
    np.testing.assert_array_equal(batched, expected[order])


def test_models_and_metrics(finished_run):
    for regime in ("standard", "pgd"):
        assert (finished_run / f"results/tiny/seed1/models/{regime}.pt").stat().st_size > 0
        metrics = json.loads((finished_run / f"results/tiny/seed1/metrics/{regime}.json").read_text())
        assert metrics["accuracy"] > 0.6, (regime, metrics)
        assert len(pd.read_csv(finished_run / f"results/tiny/seed1/metrics/{regime}_per_class.tsv", sep="\t")) == 3
        assert (finished_run / f"results/tiny/seed1/figures/confusion_{regime}.png").stat().st_size > 0
        logistic = json.loads((finished_run / "results/tiny/metrics/logreg.json").read_text())
        assert metrics["logistic_baseline"]["macro_f1"] == logistic["macro_f1"]
        assert set(metrics["model_check"]) >= {"flagged", "reasons", "predicted_share"}
        consensus = pd.read_csv(finished_run / f"results/tiny/seed1/consensus/{regime}.tsv", sep="\t", keep_default_na=False)
        assert set(consensus["model_flag"]) == {"; ".join(metrics["model_check"]["reasons"])}
    summary = pd.read_csv(finished_run / "results/comparison/summary.tsv", sep="\t")
    assert {"logistic_accuracy", "logistic_macro_f1", "model_flag"} <= set(summary.columns)


def test_real_data_with_markers_get_recovery_enrichment_and_a_comparison_row(finished_run):
    recovery = pd.read_csv(finished_run / "results/pbmc/evaluation/recovery.tsv", sep="\t")
    markers = pd.read_csv(REPO / "tests/data/pbmc_small_markers.tsv", sep="\t")
    assert set(recovery["key_genes_source"]) == {"markers: pbmc_small_markers.tsv"}
    assert set(recovery["regime"]) == {"standard", "pgd"}
    assert {"consensus", "DE (wilcoxon)", "saliency", "kernelshap"} <= set(recovery["method"])
    assert set(recovery["cell_type"]) == set(markers["cell_type"]) | {"all types"}
    totals = recovery[recovery["cell_type"] == "all types"]
    assert (totals["n_genes"] == 100).all() and (totals["p_value"].between(0, 1)).all()
    # Of the 21 marker rows, the ones kept by the 100 highly variable genes are scored; the rest are logged.
    prepared = ad.read_h5ad(finished_run / "results/pbmc/prepared.h5ad")
    outside = [gene for gene in dict.fromkeys(markers["gene"]) if gene not in prepared.var_names]
    assert set(totals["n_key_genes"]) == {len(markers[markers["gene"].isin(prepared.var_names)])}
    log = (finished_run / "logs/pbmc/recovery.log").read_text()
    assert "key genes: markers: pbmc_small_markers.tsv (5 cell types" in log
    if outside:
        assert (f"{len(outside)} of {markers['gene'].nunique()} marker genes are not among the model's 100 genes "
                f"(after highly-variable-gene selection) and cannot be ranked: {', '.join(outside)}") in log
    assert (finished_run / "results/pbmc/seed1/enrichment/pgd.tsv").exists()
    summary = pd.read_csv(finished_run / "results/comparison/summary.tsv", sep="\t").set_index(["dataset", "regime"])
    assert summary.loc[("pbmc", "pgd"), "key_genes_source"] == "markers: pbmc_small_markers.tsv"
    assert summary.loc[("tiny", "pgd"), "key_genes_source"] == "simulation"
    assert summary.loc[("pbmc", "standard"), "key_genes_expected"] > 0
    assert not pd.isna(summary.loc[("pbmc", "standard"), "key_genes_recovered_consensus"])


def bad_config(tmp_path: Path, **changes) -> Path:
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    for key, value in changes.items():
        config[key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"prepare": {"n_top_gene": 5}}, "scrobin: config: unknown key 'n_top_gene' in prepare: did you mean 'n_top_genes'?"),
        ({"datasets": {"x": {"source": "nowhere.h5ad", "label_key": "cell_type"}}}, "scrobin: config: datasets.x.source file 'nowhere.h5ad' does not exist"),
        ({"datasets": {"pbmc": {"source": "tests/data/pbmc_small.h5ad", "label_key": "bulk_labels",
                                "markers": "resources/markers/pbmc68k_bulk_labels.tsv"}}},
         "pbmc68k_bulk_labels.tsv' names cell type(s) the data lacks: 'CD34+', 'CD4+/CD45RA+/CD25- Naive T', "),
    ],
)
def test_bad_config_stops_before_any_job_with_one_line(tmp_path, changes, message):
    result = snakemake(tmp_path, config=bad_config(tmp_path, **changes))
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "results").exists()


def test_bad_data_added_later_loses_nothing(finished_run, tmp_path):
    """A bad dataset added to a finished run is refused before any job; earlier results stay."""
    workdir = tmp_path / "run"
    shutil.copytree(finished_run, workdir)
    cells = ad.read_h5ad(workdir / "results/tiny/prepared.h5ad")
    cells.obs = cells.obs.rename(columns={"cell_type": "celltype"})
    cells.write_h5ad(workdir / "wrong_labels.h5ad")
    before = {p: p.stat().st_mtime_ns for p in (workdir / "results").rglob("*") if p.is_file()}
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    config["datasets"]["wrong"] = {"source": "wrong_labels.h5ad", "label_key": "cell_type"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(workdir, config=path)
    assert result.returncode != 0
    assert "scrobin: dataset 'wrong': label column 'cell_type' is not in obs (columns: " in result.stderr
    assert "Traceback" not in result.stderr
    after = {p: p.stat().st_mtime_ns for p in (workdir / "results").rglob("*") if p.is_file()}
    assert after == before


def test_attack_budget_chosen_per_dataset_reaches_models_sweep_and_comparison(finished_run):
    """attack.eps auto (test config): each dataset's robust models are trained at the largest eps its
    own eps-structure check accepts, the sweep measures that eps, and the comparison says so."""
    summary = pd.read_csv(finished_run / "results/comparison/summary.tsv", sep="\t")
    for ds in ("tiny", "pbmc"):
        structure = json.loads((finished_run / f"results/{ds}/eps_structure/summary.json").read_text())
        chosen = structure["largest_structured_eps"]
        assert chosen is not None and structure["scores"][f"{chosen:g}"] >= structure["threshold"]
        for regime in ("pgd",):
            assert json.loads((finished_run / f"results/{ds}/seed1/metrics/{regime}.json").read_text())["attack_eps"] == chosen
        sweep = pd.read_csv(finished_run / f"results/{ds}/seed1/robustness/standard.tsv", sep="\t")
        assert chosen in set(sweep["eps"])
        rows = summary[summary["dataset"] == ds]
        assert (rows["attack_eps"] == chosen).all() and (rows["attack_eps_source"] == "eps_structure").all()
        assert "attack budget: attack.eps auto" in (finished_run / f"logs/{ds}/eps_structure.log").read_text()


def test_the_ibp_regime_joins_the_dag_like_fgsm_and_pgd(tmp_path):
    """Certified training is a regime like the adversarial ones: its model is trained, attacked,
    certified and explained by the same rules."""
    path = bad_config(tmp_path, adversarial_training={"regimes": ["pgd", "ibp"]})
    result = snakemake(tmp_path, "-n", "--quiet", "rules", config=path)
    assert result.returncode == 0, result.stderr[-3000:]
    dry = snakemake(tmp_path, "-n", config=path).stdout
    assert "results/tiny/seed1/models/ibp.pt" in dry and "results/tiny/seed1/robustness/radius_ibp.tsv" in dry
    assert "results/tiny/seed1/consensus/ibp.tsv" in dry
