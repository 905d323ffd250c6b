"""Cost and outcome of the explanation sanity checks (model randomisation, random logit) per method.

For each dataset of a config the default run's standard classifier is trained (as
``benchmarks/bench_convergence.py`` does: the config's model, training and seed) and the test cells
the ``attribute`` rule explains (``attribution.cells_per_type``) are checked with every configured
method by :func:`scrobin.evaluation.sanity.sanity_checks`: the default check (sampling methods on
``--sampling-cells-per-type`` cells per type) or, with ``--full``, every cell with every method.
Prints the per-step table, each method's seconds in all (the trained model's run included), the
verdicts, and the model's per-type test F1 (the evidence for ``importance.min_type_f1``). Run from
the repository root (minutes on 2 cores):

    .venv/bin/python benchmarks/bench_sanity.py
    .venv/bin/python benchmarks/bench_sanity.py --datasets simulation --methods kernelshap lime --full
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch
import yaml

from scrobin.cells import class_names, label_codes, sampled_test_rows, split_rows
from scrobin.attribution.registry import split_method_entry
from scrobin.config import validate_config
from scrobin.data.datasets import load_dataset
from scrobin.data.prepare import prepare_dataset
from scrobin.evaluation.config import SCHEMA as EVALUATION_SCHEMA
from scrobin.evaluation.sanity import sanity_checks, sanity_verdicts
from scrobin.schema import section_defaults
from scrobin.metrics import per_class_table
from scrobin.model.classifier import fit_classifier
from scrobin.attribution.registry import method_spec
from scrobin.data.model_input import model_input

EVALUATION_DEFAULTS = section_defaults(EVALUATION_SCHEMA, "evaluation")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml", help="config whose datasets, model and methods are used")
    parser.add_argument("--datasets", nargs="+", default=None, help="datasets of the config (default: all)")
    parser.add_argument("--methods", nargs="+", default=None, help="methods of the config (default: all)")
    parser.add_argument("--sampling-cells-per-type", type=int, default=EVALUATION_DEFAULTS["sanity_sampling_cells_per_type"])
    parser.add_argument("--full", action="store_true", help="every cell with every method")
    parser.add_argument("--rank-by", default=None, help="importance ranking rule (default: the config's importance.rank_by)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--output", help="also write the per-step table here (TSV)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    with open(args.config) as handle:
        config = validate_config(yaml.safe_load(handle))
    configured = config["attribution"]["methods"]
    tables, totals, verdicts = [], [], []
    for name in args.datasets or sorted(config["datasets"]):
        spec = config["datasets"][name]
        prepared = prepare_dataset(load_dataset(spec), name, spec, config["prepare"], config["seed"])
        model, metadata, _, _ = fit_classifier(prepared, config, "standard", torch.device("cpu"))
        y_test = label_codes(prepared)[split_rows(prepared, "test")]
        per_class = per_class_table(metadata["metrics"], y_test, class_names(prepared))
        rows = sampled_test_rows(prepared, config["attribution"]["cells_per_type"], config["seed"])
        x, target = model_input(prepared)[rows], label_codes(prepared)[rows]
        print(f"{name}: {prepared.n_vars} genes, {len(rows)} test cells explained, {per_class.shape[0]} types, "
              f"standard model macro-F1 {metadata['metrics']['macro_f1']:.3f}", flush=True)
        print(per_class.sort_values("f1").to_string(index=False), flush=True)
        background = model_input(prepared, split_rows(prepared, "train"))
        for method in args.methods or list(configured):
            params, baseline = split_method_entry(method, configured[method])
            started = time.perf_counter()
            table = sanity_checks(model, x, target, {method: (params, baseline)},
                                  background=background if method_spec(method).needs_background(baseline) else None,
                                  seed=config["seed"], sampling_cells_per_type=args.sampling_cells_per_type,
                                  full=args.full, rank_by=args.rank_by or config["importance"]["rank_by"])
            seconds = time.perf_counter() - started
            tables.append(table.assign(dataset=name))
            verdicts.append(sanity_verdicts(table, EVALUATION_DEFAULTS["sanity_threshold"]).assign(dataset=name))
            totals.append({"dataset": name, "method": method, "n_cells": int(table["n_cells"].iloc[0]),
                           "runs": len(table) + 1, "seconds": round(seconds, 2)})
            print(totals[-1], flush=True)
    table = pd.concat(tables, ignore_index=True)
    if args.output:
        table.to_csv(args.output, sep="\t", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))
        print(pd.DataFrame(totals).to_string(index=False))
        print(pd.concat(verdicts, ignore_index=True).to_string(index=False))


if __name__ == "__main__":
    main()
