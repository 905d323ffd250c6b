"""What Snakemake schedules after a finished run: only the jobs a change affects, and a clean resume.

One finished run of the default target (``all``) feeds every scenario. Scheduling is read from
``--detailed-summary``, which lists each output of the DAG with its rule, the inputs it was made
from and whether an update is pending; the expected set is derived from those recorded edges, so
the checks follow the DAG as rules are added instead of a hard-coded job list.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import pytest
import torch
import yaml

from conftest import REPO, TEST_CONFIG
from scrobin.model.store import load_model

DATASET = "tiny"
pytestmark = pytest.mark.workflow


@dataclass(frozen=True)
class Output:
    """One row of ``snakemake --detailed-summary``."""

    path: str
    rule: str
    logs: tuple[str, ...]
    inputs: tuple[str, ...]
    pending: bool


def scheduling_config() -> dict:
    """The test config the session's finished run was made with (a fresh copy to change)."""
    return yaml.safe_load(TEST_CONFIG.read_text())


def write_config(config: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake_command(workdir: Path, config: Path, *args: str) -> list[str]:
    # Targets and options go first: options such as --forcerun take every word up to the next option.
    return [
        sys.executable, "-m", "snakemake", *args, "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(config), "--cores", "2",
    ]


def snakemake(workdir: Path, config: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(snakemake_command(workdir, config, *args), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-5000:]
    return result


def summary(workdir: Path, config: Path) -> list[Output]:
    """Every output of the default target's DAG, as ``--detailed-summary`` reports it."""
    lines = snakemake(workdir, config, "--detailed-summary").stdout.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("output_file\t"))
    rows = csv.DictReader(lines[header:], delimiter="\t")

    def files(cell: str) -> tuple[str, ...]:
        return tuple(name for name in cell.split(",") if name not in ("", "-"))

    return [
        Output(row["output_file"], row["rule"], files(row["log-file(s)"]), files(row["input-file(s)"]), row["plan"] == "update pending")
        for row in rows
    ]


def pending(outputs: list[Output]) -> dict[str, str]:
    return {output.path: output.rule for output in outputs if output.pending}


def downstream(outputs: list[Output], rules: set[str], under: str = "") -> dict[str, str]:
    """Outputs of ``rules`` (those whose path starts with ``under``) and every output made, directly or not, from one of them."""
    reached = {output.path: output.rule for output in outputs if output.rule in rules and output.path.startswith(under)}
    grew = True
    while grew:
        grew = False
        for output in outputs:
            if output.path not in reached and any(name in reached for name in output.inputs):
                reached[output.path] = output.rule
                grew = True
    return reached


def by_rule(paths: dict[str, str]) -> dict[str, list[str]]:
    """``{rule: [outputs]}``, so a failure names the rules that over- or under-trigger."""
    grouped: dict[str, list[str]] = {}
    for path, rule in sorted(paths.items()):
        grouped.setdefault(rule, []).append(path)
    return grouped


def assert_schedules_exactly(scheduled: dict[str, str], expected: dict[str, str]) -> None:
    extra = {path: rule for path, rule in scheduled.items() if path not in expected}
    missed = {path: rule for path, rule in expected.items() if path not in scheduled}
    assert not extra and not missed, f"rerun but unaffected: {by_rule(extra)}; affected but not rerun: {by_rule(missed)}"


@pytest.fixture(scope="module")
def finished(finished_run) -> tuple[Path, Path]:
    """``(workdir, config)`` of the session's completed run of the default target (read only)."""
    return finished_run, TEST_CONFIG


@pytest.fixture(scope="module")
def finished_outputs(finished) -> list[Output]:
    return summary(*finished)


def changed_config(tmp_path: Path, section: str, key: str, value) -> Path:
    config = scheduling_config()
    config[section][key] = value
    return write_config(config, tmp_path / "changed.yaml")


def test_a_finished_run_schedules_nothing(finished_outputs):
    rules = {output.rule for output in finished_outputs}
    assert {"prepare", "train", "adv_train"} <= rules, rules
    scheduled = pending(finished_outputs)
    assert not scheduled, f"a finished run still schedules: {by_rule(scheduled)}"


def test_adding_a_dataset_schedules_only_its_jobs(finished, finished_outputs, tmp_path):
    workdir, _ = finished
    config = scheduling_config()
    config["datasets"]["extra"] = copy.deepcopy(config["datasets"][DATASET])
    scheduled = pending(summary(workdir, write_config(config, tmp_path / "two_datasets.yaml")))
    rerun = {path: rule for path, rule in scheduled.items() if path.startswith(f"results/{DATASET}/")}
    assert not rerun, f"adding a dataset reruns finished jobs: {by_rule(rerun)}"
    for output in finished_outputs:
        counterpart = output.path.replace(f"results/{DATASET}/", "results/extra/", 1)
        if counterpart != output.path:
            assert counterpart in scheduled, f"{counterpart} (rule {output.rule}) is not scheduled for the new dataset"


def test_adding_replicates_schedules_only_the_new_seeds_and_the_summaries(finished, finished_outputs, tmp_path):
    """replicates: 1 -> 2 trains and explains the next seed; no job of the finished seed reruns, and
    only the summaries over seeds (and what reads them) are redone."""
    workdir, _ = finished
    config = scheduling_config()
    seed = config["seed"]
    config["replicates"] = 2
    scheduled = pending(summary(workdir, write_config(config, tmp_path / "two_replicates.yaml")))
    assert not [path for path in scheduled if f"/seed{seed}/" in path], "a finished replicate reruns"
    new_seed = {path: rule for path, rule in scheduled.items() if f"/seed{seed + 1}/" in path}
    for output in finished_outputs:
        if f"/seed{seed}/" in output.path:
            assert output.path.replace(f"/seed{seed}/", f"/seed{seed + 1}/") in new_seed, output.path
    finished_paths = {output.path for output in finished_outputs}
    summaries = {path: rule for path, rule in scheduled.items() if path not in new_seed}
    assert set(summaries) <= finished_paths, "only outputs of the finished run besides the new seed"
    assert {"robustness_curves", "evaluation_figures", "recovery", "compare"} == set(summaries.values())
    assert not [path for path, rule in scheduled.items() if rule in ("prepare", "logistic_baseline", "de_baseline", "eps_structure")]


def test_adding_a_method_schedules_its_jobs_and_only_what_reads_every_method(finished, finished_outputs, tmp_path):
    """A new attribution method adds its attribute jobs (all regimes of a replicate, one job); no
    finished attribute, training or robustness job reruns, only the rules over every method
    (consensus, faithfulness, stability, sanity, recovery) and what follows from them."""
    workdir, _ = finished
    config = scheduling_config()
    assert "integrated_gradients" not in config["attribution"]["methods"]
    config["attribution"]["methods"]["integrated_gradients"] = {"n_steps": 8}
    scheduled = pending(summary(workdir, write_config(config, tmp_path / "new_method.yaml")))
    finished_paths = {output.path for output in finished_outputs}
    added = {path: rule for path, rule in scheduled.items() if path not in finished_paths}
    assert set(added.values()) == {"attribute"}, by_rule(added)
    attribute_outputs = [output for output in finished_outputs if output.rule == "attribute"]
    assert len(added) == len(attribute_outputs) // len(scheduling_config()["attribution"]["methods"])
    assert all(Path(path).stem == "integrated_gradients" for path in added), sorted(added)
    rerun = {path: rule for path, rule in scheduled.items() if path in finished_paths}
    assert_schedules_exactly(rerun, downstream(finished_outputs, {"consensus", "faithfulness", "stability", "sanity",
                                                                  "recovery"}))
    assert not {"attribute", "train", "adv_train", "robustness"} & set(rerun.values()), by_rule(rerun)


def test_changing_the_learning_rate_reruns_training_and_what_follows(finished, finished_outputs, tmp_path):
    workdir, _ = finished
    learning_rate = scheduling_config()["train"]["learning_rate"]
    scheduled = pending(summary(workdir, changed_config(tmp_path, "train", "learning_rate", learning_rate / 2)))
    assert "prepare" not in scheduled.values()
    assert_schedules_exactly(scheduled, downstream(finished_outputs, {"train", "adv_train"}))


def test_changing_n_top_genes_reruns_from_prepare_on(finished, finished_outputs, tmp_path):
    workdir, _ = finished
    n_top_genes = scheduling_config()["prepare"]["n_top_genes"]
    scheduled = pending(summary(workdir, changed_config(tmp_path, "prepare", "n_top_genes", n_top_genes - 20)))
    assert_schedules_exactly(scheduled, downstream(finished_outputs, {"prepare"}))


def test_editing_the_markers_file_reruns_recovery_only(finished, finished_outputs, tmp_path):
    workdir, _ = finished
    config = scheduling_config()
    markers = tmp_path / "markers.tsv"
    rows = (REPO / config["datasets"]["pbmc"]["markers"]).read_text().splitlines(keepends=True)
    markers.write_text("".join(rows[:-1]))  # one marker fewer
    config["datasets"]["pbmc"]["markers"] = str(markers)
    scheduled = pending(summary(workdir, write_config(config, tmp_path / "markers.yaml")))
    assert "recovery" in scheduled.values()
    assert_schedules_exactly(scheduled, downstream(finished_outputs, {"recovery"}, under="results/pbmc/"))


def without_timings(metrics: dict) -> dict:
    return {key: value for key, value in metrics.items() if not key.endswith("_seconds")}


def test_a_killed_run_resumes_with_rerun_incomplete_to_the_same_results(finished, finished_outputs, tmp_path):
    """SIGKILL a fresh run while ``train`` works, then resume as a user would.

    A killed Snakemake leaves its lock behind, so resuming is ``--unlock`` then
    ``--rerun-incomplete``. The resumed run must keep the finished ``prepare`` job, redo the
    interrupted one and end with what a run that was never interrupted made.
    """
    finished_dir, config = finished
    workdir = tmp_path / "run"
    prepared = f"results/{DATASET}/prepared.h5ad"
    model = f"results/{DATASET}/seed1/models/standard.pt"
    metrics = f"results/{DATASET}/seed1/metrics/standard.json"
    (train_log,) = next(output.logs for output in finished_outputs if output.path == model)

    run = subprocess.Popen(snakemake_command(workdir, config, model), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    while not (workdir / train_log).exists():
        assert run.poll() is None, f"snakemake ended (exit {run.returncode}) before train started"
        assert time.monotonic() < deadline, "train did not start within 10 minutes"
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)
    assert run.wait() == -signal.SIGKILL
    assert any((workdir / ".snakemake" / "incomplete").iterdir()), "the kill left no job marked incomplete"
    prepared_mtime = (workdir / prepared).stat().st_mtime_ns

    snakemake(workdir, config, "--unlock")
    snakemake(workdir, config, model, "--rerun-incomplete")

    assert (workdir / prepared).stat().st_mtime_ns == prepared_mtime, "the resumed run redid the finished prepare job"
    resumed, original = ad.read_h5ad(workdir / prepared), ad.read_h5ad(finished_dir / prepared)
    # X is sparse (log-normalised; scaled per batch): compare its stored values and structure.
    assert (resumed.X != original.X).nnz == 0
    assert resumed.obs.equals(original.obs)
    resumed_metrics = json.loads((workdir / metrics).read_text())
    assert without_timings(resumed_metrics) == without_timings(json.loads((finished_dir / metrics).read_text()))
    resumed_state = load_model(workdir / model, torch.device("cpu"))[0].state_dict()
    original_state = load_model(finished_dir / model, torch.device("cpu"))[0].state_dict()
    assert resumed_state.keys() == original_state.keys()
    assert all(torch.equal(resumed_state[name], original_state[name]) for name in original_state)
