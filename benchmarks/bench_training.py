"""Madry adversarial training against standard training at the same epochs.

Each regime trains the default config's classifier on a dataset of the config for ``--epochs``
epochs with early stopping off, so the three runs do the same number of optimiser steps; the
ratio to the standard run is the price of crafting adversarial cells in every batch (and of
attacking the validation cells once per epoch). Arithmetic alone puts PGD-k at about k + 1 times
standard training (k forward/backward passes to craft, one on the doubled batch) and FGSM at
about 3 times. Run from the repository root:

    .venv/bin/python benchmarks/bench_training.py
    .venv/bin/python benchmarks/bench_training.py --dataset pbmc68k --epochs 10
"""

from __future__ import annotations

import argparse
import copy
import time

import pandas as pd
import torch
import yaml

from scrobin.model.classifier import fit_classifier
from scrobin.config import validate_config
from scrobin.data.datasets import load_dataset
from scrobin.data.prepare import prepare_dataset


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--dataset", default="simulation", help="dataset of the config")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--eps", type=float, default=0.1, help="attack budget (the config's may be auto)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=2, help="runs per regime; the fastest counts")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    with open(args.config) as handle:
        config = validate_config(yaml.safe_load(handle))
    spec = config["datasets"][args.dataset]
    prepared = prepare_dataset(load_dataset(spec), args.dataset, spec, config["prepare"], config["seed"])
    config = copy.deepcopy(config)
    config["train"].update(max_epochs=args.epochs, early_stopping_patience=0)
    config["attack"]["eps"] = args.eps
    rows = []
    for regime in ("standard", "fgsm", "pgd"):
        seconds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            fit_classifier(prepared, config, regime, torch.device("cpu"))
            seconds.append(time.perf_counter() - started)
        rows.append({"regime": regime, "epochs": args.epochs, "seconds": min(seconds)})
    table = pd.DataFrame(rows)
    table["x_standard"] = table["seconds"] / table.loc[0, "seconds"]
    print(f"{args.dataset}: {prepared.n_obs} cells x {prepared.n_vars} genes, "
          f"PGD {config['attack']['pgd_iterations']} iterations, batch {config['train']['batch_size']}")
    print(table.round(2).to_string(index=False))


if __name__ == "__main__":
    main()
