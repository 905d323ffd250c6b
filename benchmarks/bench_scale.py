"""Atlas scale: wall time, CPU time and peak memory of each workflow stage at 100k, 300k and 1M cells.

Synthetic raw counts (sparse, negative binomial, ``--genes`` genes, ``--types`` cell types each
with a marker programme of 50 genes at 6x, ~``--nnz`` non-zeros per cell) are written to an
``.h5ad`` in blocks of cells, so generating a million cells stays within the memory bound. Each
stage then runs in its own subprocess on the previous stage's output, as the workflow's rules do,
and reports its peak RSS as it ends (:func:`peak_rss_kb`: ``VmHWM``, not ``ru_maxrss``, which a
child inherits from the parent that started it: the parent's counts generation showed as every
stage's peak).
Next to the wall seconds each stage records its CPU seconds (user + system of the subprocess):
on shared cores the wall time grows with the other load, the CPU time does not, so the CPU time
is the fair measure of how a stage scales.

- ``prepare``: ``load_dataset`` (backed) + ``prepare_dataset`` + ``write_h5ad`` (the rule's code)
- ``logistic_baseline``: the rule's job (``scrobin.model.jobs.logistic_baseline``): the baseline
  fitted on at most ``model_check.logistic_train_cells`` training cells, the test split predicted
- ``de_baseline``: the rule's job: scanpy's Wilcoxon test of each type against the rest
- ``train``: the standard model (config defaults, wide preset), ``--epochs`` epochs
- ``eps_structure``: the rule's job: FGSM at each eps on ``eps_structure.n_cells`` cells, their
  neighbour graphs and UMAP (the attack budget check)
- ``robustness``: the default sweep (FGSM and PGD-10, 8 eps) on the default cell budget
- ``adv_train``: FGSM Madry training, ``--adv-epochs`` epochs
- ``attribute``: the rule's job (``scrobin.attribution.jobs.attribute``) for saliency, then for
  integrated gradients, on ``cells_per_type`` (default 200) cells per type, attributions and
  importance tables written; each job reads ``prepared.h5ad`` itself, as its own rule would
  (the stage holds no copy of its own, so the peak is that of the larger job)
- ``consensus``: the rule's job (``scrobin.attribution.jobs.consensus``) over those two importance
  tables of the standard model: the consensus table and its heatmap
- ``faithfulness``, ``stability``: the rules' jobs on those rankings / methods (deletion and
  insertion curves on ``cells_per_type`` cells per type; sensitivity and infidelity on
  ``evaluation.stability_cells`` cells)

Run from the repository root (files go under ``--workdir``, deleted at the end unless ``--keep``)::

    nice -n 19 .venv/bin/python benchmarks/bench_scale.py --sizes 100000 1000000 300000 --epochs 1 --keep --reuse
    nice -n 19 .venv/bin/python benchmarks/bench_scale.py --sizes 1000000 --stages prepare train

Prints one table (stage x size -> wall s, CPU s and peak RSS GB) and appends every measurement to
``--results`` (JSON lines) as it comes, so a long run can be read while it goes.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

LOG = logging.getLogger("bench_scale")
STAGES = ("prepare", "logistic_baseline", "de_baseline", "train", "eps_structure", "robustness", "adv_train",
          "attribute", "consensus", "faithfulness", "stability")
ATTRIBUTION_METHODS = ("saliency", "integrated_gradients")
MARKERS_PER_TYPE = 50
MARKER_FOLD = 6.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--types", type=int, default=10)
    parser.add_argument("--nnz", type=int, default=1200, help="mean non-zeros per cell")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--adv-epochs", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--workdir", default="/tmp/scrobin_bench_scale")
    parser.add_argument("--results", default="benchmarks/bench_scale_results.jsonl")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--reuse", action="store_true", help="reuse the counts (and outputs) a --keep run left")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stage", help=argparse.SUPPRESS)  # internal: run one stage in this process
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def generate_counts(path: Path, n_cells: int, n_genes: int, n_types: int, nnz_per_cell: int, seed: int,
                    block_cells: int = 20_000) -> None:
    """Write synthetic raw counts to ``path`` block by block (memory: one block).

    Each cell draws ~``nnz_per_cell`` gene positions from its type's gene weights (a shared
    log-normal base, marker genes of the type x ``MARKER_FOLD``) and a negative-binomial count
    (size 2) at each, duplicates summed: NB-distributed, sparse, type-specific.
    """
    import anndata as ad
    import h5py
    import pandas as pd
    import scipy.sparse as sp
    from anndata.io import sparse_dataset, write_elem

    rng = np.random.default_rng(seed)
    base = rng.lognormal(0.0, 1.5, n_genes)
    markers = rng.permutation(n_genes)[: n_types * MARKERS_PER_TYPE].reshape(n_types, MARKERS_PER_TYPE)
    weights = np.tile(base, (n_types, 1))
    for t in range(n_types):
        weights[t, markers[t]] *= MARKER_FOLD
    weights /= weights.sum(axis=1, keepdims=True)
    cumulative = np.cumsum(weights, axis=1)
    types = rng.integers(0, n_types, n_cells)
    obs = pd.DataFrame({"cell_type": pd.Categorical([f"type_{t}" for t in types])},
                       index=pd.RangeIndex(n_cells).astype(str).map(lambda i: f"cell{i}"))
    var = pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)])
    ad.AnnData(obs=obs, var=var).write_h5ad(path)
    with h5py.File(path, "a") as handle:
        for start in range(0, n_cells, block_cells):
            block_types = types[start:start + block_cells]
            per_cell = rng.poisson(nnz_per_cell, len(block_types))
            rows = np.repeat(np.arange(len(block_types)), per_cell)
            uniform = rng.random(len(rows))
            cols = np.empty(len(rows), np.int64)
            row_types = block_types[rows]
            for t in np.unique(block_types):
                at = row_types == t
                cols[at] = np.minimum(np.searchsorted(cumulative[t], uniform[at]), n_genes - 1)
            values = (1 + rng.negative_binomial(2, 0.5, len(rows))).astype(np.float32)
            block = sp.csr_matrix((values, (rows, cols)), shape=(len(block_types), n_genes), dtype=np.float32)
            block.sum_duplicates()
            if start == 0:
                write_elem(handle, "X", block)
            else:
                sparse_dataset(handle["X"]).append(block)


def stage_config(device: str) -> dict:
    from scrobin.config import validate_config

    return validate_config({"datasets": {"atlas": {"source": "simulate"}}, "device": device})


def run_stage(stage: str, workdir: Path, args: argparse.Namespace) -> dict:
    """One stage's work, in this process; returns what it measured besides time and memory."""
    import anndata as ad
    import torch

    torch.set_num_threads(args.threads)
    config = stage_config(args.device)
    counts, prepared_path = workdir / "counts.h5ad", workdir / "prepared.h5ad"
    models = {regime: workdir / f"{regime}.pt" for regime in ("standard", "fgsm")}
    from scrobin.runtime import resolve_device

    device = resolve_device(config["device"])
    if stage == "prepare":
        from scrobin.data.datasets import load_dataset
        from scrobin.data.prepare import prepare_dataset

        spec = {"source": str(counts), "label_key": "cell_type", "input_state": "counts"}
        prepared = prepare_dataset(load_dataset(spec, name="atlas", backed=True), "atlas", spec, config["prepare"],
                                   config["seed"])
        prepared.write_h5ad(prepared_path, compression="gzip")
        return {"prepared_cells": prepared.n_obs, "genes": prepared.n_vars, "nnz_per_cell": round(prepared.X.nnz / prepared.n_obs)}
    if stage == "logistic_baseline":
        from scrobin.model import jobs

        metrics_path = workdir / "logreg.json"
        jobs.logistic_baseline(rule_call(
            input={"prepared": prepared_path},
            output={"model": workdir / "logreg.npz", "metrics": metrics_path},
            params={"seed": config["seed"], "train_cells": config["model_check"]["logistic_train_cells"]}), LOG)
        metrics = json.loads(metrics_path.read_text())
        return {"train_cells_fitted": metrics["n_train_cells"], "accuracy": round(metrics["accuracy"], 4)}
    if stage == "consensus":
        from scrobin.attribution import jobs

        table = workdir / "consensus.tsv"
        jobs.consensus(rule_call(
            input={"importance": [str(importance_path(workdir, method)) for method in ATTRIBUTION_METHODS],
                   "prepared": prepared_path},
            output={"tables": [str(table)], "heatmaps": [str(workdir / "consensus.png")]},
            params={"consensus": config["consensus"], "direction": config["importance"]["direction"],
                    "n_methods": len(ATTRIBUTION_METHODS), "regimes": ["standard"]},
            wildcards={"ds": "atlas"}), LOG)
        return {"consensus_rows": sum(1 for _ in open(table)) - 1}
    if stage == "de_baseline":
        from scrobin.evaluation import jobs

        output = workdir / "de_ranking.tsv"
        jobs.de_baseline(rule_call(input={"prepared": prepared_path}, output={"table": output},
                                   params={"alpha": config["evaluation"]["de_alpha"]}, wildcards={"ds": "atlas"}), LOG)
        return {"de_rows": sum(1 for _ in open(output)) - 1}
    if stage == "eps_structure":
        from scrobin.robustness import jobs

        summary = workdir / "eps_structure.json"
        jobs.eps_structure(rule_call(
            input={"prepared": prepared_path, "model": models["standard"]},
            output={"table": workdir / "eps_structure.tsv", "summary": summary, "figure": workdir / "eps_structure.png"},
            params={"structure": config["eps_structure"], "attack": config["attack"], "seed": config["seed"],
                    "device": config["device"]},
            wildcards={"ds": "atlas"}), LOG)
        return {"cells_embedded": config["eps_structure"]["n_cells"],
                "largest_structured_eps": json.loads(summary.read_text())["largest_structured_eps"]}
    if stage == "faithfulness":
        from scrobin.evaluation import jobs

        jobs.faithfulness(rule_call(
            input={"importance": [importance_path(workdir, method) for method in ATTRIBUTION_METHODS],
                   "consensus": [workdir / "consensus.tsv"], "prepared": prepared_path, "models": [models["standard"]]},
            output={"areas": [workdir / "faithfulness.tsv"], "curves": [workdir / "faithfulness_curves.tsv"]},
            params={"evaluation": config["evaluation"], "cells_per_type": config["attribution"]["cells_per_type"],
                    "regimes": ["standard"], "seed": config["seed"], "device": config["device"]},
            wildcards={"ds": "atlas"}), LOG)
        return {"rankings": len(ATTRIBUTION_METHODS) + 1}
    if stage == "stability":
        from scrobin.evaluation import jobs

        jobs.stability(rule_call(
            input={"prepared": prepared_path, "models": [models["standard"]]},
            output={"tables": [workdir / "stability.tsv"]},
            params={"evaluation": config["evaluation"],
                    "methods": {method: config["attribution"]["methods"][method] for method in ATTRIBUTION_METHODS},
                    "regimes": ["standard"], "seed": config["seed"], "device": config["device"]},
            wildcards={"ds": "atlas"}), LOG)
        return {"cells_scored": config["evaluation"]["stability_cells"]}
    if stage == "attribute":
        from scrobin.attribution import jobs

        for method in ATTRIBUTION_METHODS:
            jobs.attribute(rule_call(
                input={"prepared": prepared_path, "models": [models["standard"]]},
                output={"attributions": [workdir / f"{method}.h5ad"], "importance": [importance_path(workdir, method)]},
                params={"entry": config["attribution"]["methods"][method],
                        "cells_per_type": config["attribution"]["cells_per_type"],
                        "target": config["attribution"]["target"], "importance": config["importance"],
                        "on_flag": config["model_check"]["on_flag"], "regimes": ["standard"], "seed": config["seed"],
                        "device": config["device"]},
                wildcards={"method": method}), LOG)
        return {"cells_explained": sum(ad.read_h5ad(workdir / f"{m}.h5ad", backed="r").n_obs for m in ATTRIBUTION_METHODS)}
    prepared = ad.read_h5ad(prepared_path)
    from scrobin.model.classifier import fit_classifier
    from scrobin.model.store import load_model, save_model

    if stage in ("train", "adv_train"):
        regime = "standard" if stage == "train" else "fgsm"
        run = {**config, "train": {**config["train"], "max_epochs": args.epochs if regime == "standard" else args.adv_epochs}}
        run["attack"] = {**run["attack"], "eps": 0.5}
        model, metadata, history, _ = fit_classifier(prepared, run, regime, device, log=print)
        save_model(models[regime], model, metadata)
        seconds = metadata["metrics"]["training_seconds"]
        return {"epochs": len(history), "s_per_epoch": round(seconds / len(history), 1),
                "accuracy": round(metadata["metrics"]["accuracy"], 4)}
    model = load_model(models["standard"], device)[0]
    from scrobin.cells import label_codes, proportional_subset, split_rows
    from scrobin.data.model_input import model_input

    if stage == "robustness":
        from scrobin.robustness.sweep import robustness_sweep

        settings = config["robustness"]
        rows = split_rows(prepared, "test")
        rows = rows[proportional_subset(label_codes(prepared)[rows], settings["n_cells"], config["seed"])]
        table = robustness_sweep(model, model_input(prepared)[rows], label_codes(prepared)[rows], settings["attacks"],
                                 settings["eps_grid"], device=str(device), seed=config["seed"])
        return {"cells_attacked": len(rows), "accuracy_at_eps_1": float(table.query("eps == 1.0")["accuracy"].min())}
    raise ValueError(f"unknown stage {stage}")


class RuleCall:
    """The parts of Snakemake's ``snakemake`` object a job reads: named files, params and wildcards."""

    def __init__(self, **sections):
        for name, values in sections.items():
            setattr(self, name, Named(values))


class Named(dict):
    """A mapping whose keys also read as attributes (``input.prepared``), like Snakemake's named lists."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def rule_call(**sections) -> RuleCall:
    """A stand-in for the ``snakemake`` object of one rule, paths as strings."""
    def as_str(value):
        if isinstance(value, list):
            return [as_str(item) for item in value]
        return str(value) if isinstance(value, Path) else value

    return RuleCall(**{name: {key: as_str(value) for key, value in values.items()} for name, values in sections.items()})


def importance_path(workdir: Path, method: str) -> Path:
    return workdir / f"importance_{method}.tsv"


def measure(stage: str, size: int, workdir: Path, args: argparse.Namespace) -> dict:
    """Run one stage in a subprocess; its wall seconds, CPU seconds (user + system) and peak RSS (GB)."""
    command = [sys.executable, __file__, "--stage", stage, "--size", str(size), "--workdir", str(workdir),
               "--device", args.device, "--threads", str(args.threads), "--epochs", str(args.epochs),
               "--adv-epochs", str(args.adv_epochs)]
    cpu_before = _children_cpu_seconds()
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    cpu = _children_cpu_seconds() - cpu_before
    if result.returncode:
        raise RuntimeError(f"{stage} at {size} cells failed:\n{result.stderr[-3000:]}")
    (workdir / f"{stage}.log").write_text(result.stdout + result.stderr)
    info = json.loads(result.stdout.strip().splitlines()[-1])
    peak_gb = info.pop("peak_rss_kb") / 2**20
    return {"stage": stage, "cells": size, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "peak_rss_gb": round(peak_gb, 2), **info}


def peak_rss_kb() -> int:
    """This process's peak resident memory (kB) since it started its program.

    Linux's ``VmHWM`` belongs to the address space the program runs in. ``ru_maxrss`` does not
    do: across ``fork`` + ``exec`` it keeps the largest of the parent's peak and the child's, so a
    parent that generated a million cells' counts would show its peak as each stage's. Where
    ``/proc`` is missing (not Linux) ``ru_maxrss`` is the fallback.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _children_cpu_seconds() -> float:
    """User + system CPU seconds of every finished subprocess of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.stage:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")  # progress lines
        info = run_stage(args.stage, Path(args.workdir), args)
        info["peak_rss_kb"] = peak_rss_kb()
        print(json.dumps(info))
        return
    rows = []
    for size in args.sizes:
        workdir = Path(args.workdir) / str(size)
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        if not (args.reuse and (workdir / "counts.h5ad").exists()):
            generate_counts(workdir / "counts.h5ad", size, args.genes, args.types, args.nnz, args.seed)
        print(f"counts of {size} cells ready in {time.perf_counter() - started:.0f} s "
              f"({(workdir / 'counts.h5ad').stat().st_size / 2**30:.1f} GB)", flush=True)
        for stage in args.stages:
            row = measure(stage, size, workdir, args)
            rows.append(row)
            print(json.dumps(row), flush=True)
            with open(args.results, "a") as handle:
                handle.write(json.dumps(row) + "\n")
        if not args.keep:
            shutil.rmtree(workdir)
    import pandas as pd

    table = pd.DataFrame(rows)
    print(table.pivot(index="stage", columns="cells", values=["wall_s", "cpu_s", "peak_rss_gb"]).to_string())


if __name__ == "__main__":
    main()
