"""CellTypist side by side on the default run's PBMC data: test accuracy, exact robust accuracy, fit time.

The dataset is prepared exactly as the workflow prepares it (``config/config.yaml``), once per seed;
CellTypist is fitted on that split's training cells (its own input: log1p counts per 10,000 of all
genes) and scored on its test cells; its exact L-inf robust accuracy is computed at each eps
(scrobin's units, converted per gene with the training cells' sd), with log-expression kept >= 0
and unbounded. The logistic baseline (scrobin's scaled input) gets the same exact sweep, for context.

Run from the repository root, e.g.::

    python benchmarks/bench_celltypist.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import pandas as pd
import yaml

from scrobin.config import validate_config
from scrobin.data.datasets import load_dataset
from scrobin.data.model_input import split_cells
from scrobin.data.prepare import prepare_dataset
from scrobin.model.celltypist_reference import celltypist_metrics, fit_celltypist, prepared_celltypist_input
from scrobin.model.logistic import logistic_baseline_metrics
from scrobin.robustness.linear_exact import celltypist_exact_sweep, exact_sweep, logistic_decision

EPS_GRID = [0.05, 0.1, 0.2, 0.5]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--dataset", default="pbmc68k")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="split and fit seeds")
    parser.add_argument("--eps", type=float, nargs="+", default=EPS_GRID, help="budgets in scrobin's units")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with open(args.config) as handle:
        raw = yaml.safe_load(handle)
    raw["datasets"], raw["device"] = {args.dataset: raw["datasets"][args.dataset]}, "cpu"
    rows = []
    for seed in args.seeds:
        config = validate_config({**raw, "seed": seed})
        spec = config["datasets"][args.dataset]
        source = load_dataset(spec)
        prepared = prepare_dataset(source, args.dataset, spec, config["prepare"], seed)
        cells = prepared_celltypist_input(source, prepared)
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            model = fit_celltypist(cells, folder, seed=seed)
            fit_seconds = time.perf_counter() - started
            metrics, _ = celltypist_metrics(model, cells)
            tables = {f"celltypist (x >= {0:g})": celltypist_exact_sweep(model, cells, args.eps),
                      "celltypist (unbounded)": celltypist_exact_sweep(model, cells, args.eps, domain_low=None)}
        logistic, logistic_metrics = logistic_baseline_metrics(prepared, seed)
        x_test, y_test = split_cells(prepared, "test")
        tables["logistic baseline"] = exact_sweep(x_test, y_test, logistic_decision(logistic), args.eps)
        summary = {"seed": seed, "n_genes": cells.n_vars, "n_features": len(model.features),
                   "n_train_cells": int((cells.obs["split"] == "train").sum()), "fit_seconds": round(fit_seconds, 3),
                   "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
                   "logistic_accuracy": logistic_metrics["accuracy"], "logistic_macro_f1": logistic_metrics["macro_f1"],
                   "input": cells.uns["celltypist_input"]["normalisation"]}
        print(json.dumps(summary), flush=True)
        for model_name, table in tables.items():
            for _, row in table.iterrows():
                rows.append({"seed": seed, "model": model_name, "eps": row["eps"], "accuracy": row["accuracy"],
                             "macro_f1": row["macro_f1"]})
    table = pd.DataFrame(rows)
    summary = table.groupby(["model", "eps"], sort=False)[["accuracy", "macro_f1"]].agg(["mean", "std"])
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(summary)


if __name__ == "__main__":
    main()
