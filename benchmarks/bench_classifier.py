"""Test macro-F1 and accuracy of classifier settings against a logistic regression, same split.

Each dataset is prepared exactly as the workflow prepares it (the ``prepare`` settings of the
config file it comes from), once per seed; every candidate and the logistic baseline are fitted on
that split's training cells and scored on its test cells. Candidates are model presets or explicit
``model`` / ``train`` overrides, applied on top of the config's own sections.

Run from the repository root, e.g.::

    python benchmarks/bench_classifier.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd
import torch
import yaml

from scrobin.model.classifier import fit_classifier
from scrobin.model.logistic import logistic_baseline_metrics
from scrobin.config import validate_config
from scrobin.data.datasets import load_dataset
from scrobin.data.prepare import prepare_dataset

# (config file, dataset name in it): the default run's datasets and the test config's real one.
DATASETS = {
    "pbmc68k": ("config/config.yaml", "pbmc68k"),
    "simulation": ("config/config.yaml", "simulation"),
    "pbmc_small": ("config/test.yaml", "pbmc"),
}
# name -> overrides of the config's model and train sections.
CANDIDATES = {
    "default": {},
    "paper": {"model": {"preset": "paper"}},
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES),
                        help=f"names from {list(CANDIDATES)} or NAME=JSON of model/train overrides")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="split and training seeds")
    parser.add_argument("--output", help="also write the per-seed table here (TSV)")
    return parser.parse_args()


def candidate_overrides(candidate: str) -> tuple[str, dict]:
    if candidate in CANDIDATES:
        return candidate, CANDIDATES[candidate]
    name, _, overrides = candidate.partition("=")
    return name, json.loads(overrides)


def dataset_config(config_file: str, dataset: str, seed: int, overrides: dict) -> dict:
    with open(config_file) as handle:
        raw = yaml.safe_load(handle)
    raw["seed"] = seed
    raw["device"] = "cpu"
    raw["datasets"] = {dataset: raw["datasets"][dataset]}
    # The dataset is prepared as its config says; the model comes from the candidate alone (the
    # test config's tiny network would otherwise hide the presets).
    for section in ("model", "train"):
        raw.pop(section, None)
    for section, values in overrides.items():
        raw[section] = {**raw.get(section, {}), **values}
    return validate_config(raw)


def main() -> None:
    args = parse_args()
    rows = []
    for label in args.datasets:
        config_file, dataset = DATASETS[label]
        for seed in args.seeds:
            config = dataset_config(config_file, dataset, seed, {})
            spec = config["datasets"][dataset]
            prepared = prepare_dataset(load_dataset(spec), dataset, spec, config["prepare"], seed)
            started = time.perf_counter()
            _, logistic = logistic_baseline_metrics(prepared, seed)
            rows.append({"dataset": label, "seed": seed, "model": "logistic", "accuracy": logistic["accuracy"],
                         "macro_f1": logistic["macro_f1"], "seconds": time.perf_counter() - started})
            print(json.dumps(rows[-1]), flush=True)
            for candidate in args.candidates:
                name, overrides = candidate_overrides(candidate)
                config = dataset_config(config_file, dataset, seed, overrides)
                started = time.perf_counter()
                _, metadata, _, _ = fit_classifier(prepared, config, "standard", torch.device("cpu"))
                metrics = metadata["metrics"]
                rows.append({"dataset": label, "seed": seed, "model": name, "accuracy": metrics["accuracy"],
                             "macro_f1": metrics["macro_f1"], "seconds": time.perf_counter() - started,
                             "epochs": metrics["epochs_run"]})
                print(json.dumps(rows[-1]), flush=True)
    table = pd.DataFrame(rows)
    logistic_f1 = table[table["model"] == "logistic"].set_index(["dataset", "seed"])["macro_f1"]
    table["macro_f1_minus_logistic"] = table["macro_f1"].to_numpy() - logistic_f1.reindex(
        pd.MultiIndex.from_frame(table[["dataset", "seed"]])).to_numpy()
    if args.output:
        table.to_csv(args.output, sep="\t", index=False)
    summary = table.groupby(["dataset", "model"], sort=False)[["accuracy", "macro_f1", "macro_f1_minus_logistic", "seconds"]].agg(["mean", "std"])
    summary.columns = [f"{measure}_{statistic}" for measure, statistic in summary.columns]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.3f}".format):
        print(summary)


if __name__ == "__main__":
    main()
