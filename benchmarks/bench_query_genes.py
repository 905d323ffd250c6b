"""Test accuracy and macro-F1 of a trained model on query cells that lack a share of the genes.

Each dataset is prepared as the default run prepares it and its standard model trained once per
seed; the test cells, taken from the source as a query would come, then lose a random share of
all their genes (model genes and, for counts, the genes of the library size alike) and are
replayed with ``scrobin.data.query`` (missing model genes neutral, missing counts absent). The
curve backs the default of ``annotation.min_shared_genes``.

Run from the repository root, e.g.::

    python benchmarks/bench_query_genes.py --seeds 0 1 --draws 3
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import torch
import yaml

from scrobin.cells import class_names, split_rows
from scrobin.config import validate_config
from scrobin.contract import SCROBIN_KEY
from scrobin.data.checks import Subject
from scrobin.data.datasets import load_dataset
from scrobin.data.prepare import prepare_dataset
from scrobin.data.query import align_query, query_model_input
from scrobin.inference import predict_classes
from scrobin.metrics import accuracy_macro_f1
from scrobin.model.classifier import fit_classifier

MISSING_SHARES = (0.0, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["pbmc68k", "simulation"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--draws", type=int, default=3, help="random gene subsets per share and seed")
    parser.add_argument("--output", help="also write the per-draw table here (TSV)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with open("config/config.yaml") as handle:
        raw = yaml.safe_load(handle)
    rows = []
    for dataset in args.datasets:
        for seed in args.seeds:
            config = validate_config({**raw, "seed": seed, "device": "cpu",
                                      "datasets": {dataset: raw["datasets"][dataset]}})
            spec = config["datasets"][dataset]
            source = load_dataset(spec)
            prepared = prepare_dataset(source, dataset, spec, config["prepare"], seed)
            model, metadata, _, _ = fit_classifier(prepared, config, "standard", torch.device("cpu"))
            transform = prepared.uns[SCROBIN_KEY]["transform"]
            test = split_rows(prepared, "test")
            query = source[prepared.obs_names[test]]
            classes = class_names(prepared)
            truth = pd.Categorical(prepared.obs["cell_type"].to_numpy()[test], categories=classes).codes
            rng = np.random.default_rng(seed)
            for share in MISSING_SHARES:
                for draw in range(args.draws if share else 1):
                    kept = np.sort(rng.choice(query.n_vars, size=round(query.n_vars * (1 - share)), replace=False))
                    cells = query[:, kept]
                    alignment = align_query(cells.var, transform, Subject("bench", ""))
                    predicted = predict_classes(model, query_model_input(cells, alignment, transform))
                    rows.append({"dataset": dataset, "seed": seed, "dropped_share": share, "draw": draw,
                                 "missing_model_share": alignment.missing_share,
                                 **accuracy_macro_f1(truth, predicted, np.arange(len(classes)))})
                    print(json.dumps(rows[-1]), flush=True)
    table = pd.DataFrame(rows)
    if args.output:
        table.to_csv(args.output, sep="\t", index=False)
    summary = table.groupby(["dataset", "dropped_share"])[["missing_model_share", "accuracy", "macro_f1"]].agg(["mean", "std"])
    summary.columns = [f"{measure}_{statistic}" for measure, statistic in summary.columns]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.3f}".format):
        print(summary)


if __name__ == "__main__":
    main()
