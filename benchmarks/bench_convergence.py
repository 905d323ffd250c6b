"""How many samples a sampling explainer needs: per-type rankings at budget b against budget 4b.

KernelSHAP (coalitions), LIME (perturbations) and GradientSHAP (random draws) estimate each cell's
attributions by sampling; the workflow reads them as per-type importance, the mean over that
type's test cells, which averages much of the per-cell sampling noise away. For each budget b this
prints, per dataset and method, how close the per-type importance at b is to the one at 4b:

* ``spearman``: Spearman correlation of the importance vectors (all genes), mean over cell types;
* ``top20``: share of the top-20 genes at 4b that are in the top 20 at b, mean over cell types.

A default is good enough where both are >= 0.95 on every dataset. The models are the default
run's standard classifiers (``config/config.yaml``: model, training, seed), the cells those the
``attribute`` rule explains (``attribution.cells_per_type``), the baselines the methods' defaults.
Run from the repository root (minutes on 2 cores):

    .venv/bin/python benchmarks/bench_convergence.py
    .venv/bin/python benchmarks/bench_convergence.py --datasets simulation --methods lime --budgets 250 500 1000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
import yaml
from scipy.stats import spearmanr

from scrobin.attribution.jobs import attribute_cells
from scrobin.model.classifier import fit_classifier
from scrobin.config import validate_config
from scrobin.data.datasets import load_dataset
from scrobin.attribution.importance import cell_type_importance
from scrobin.data.prepare import prepare_dataset

BUDGET_PARAM = {"kernelshap": "n_samples", "lime": "n_samples", "gradientshap": "n_samples"}
# KernelSHAP's paired coalitions determine the gene effects only from about twice as many
# coalitions as genes, so its budgets follow the gene count; the others are absolute.
DEFAULT_BUDGETS = {
    "kernelshap": lambda n_genes: [2 * n_genes + 2048, 3 * n_genes + 3072, 4 * n_genes + 4096],
    "lime": lambda n_genes: [2000, 2500, 3000],
    "gradientshap": lambda n_genes: [25, 50, 100, 200],
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml", help="config whose datasets and model are used")
    parser.add_argument("--datasets", nargs="+", default=None, help="datasets of the config (default: all)")
    parser.add_argument("--methods", nargs="+", default=list(BUDGET_PARAM), choices=list(BUDGET_PARAM))
    parser.add_argument("--budgets", nargs="+", type=int, default=None, help="budgets b (each is compared with 4b)")
    parser.add_argument("--top", type=int, default=20, help="top genes compared per type")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return parser.parse_args()


def per_type_importance(model, prepared, config, method: str, budget: int) -> pd.DataFrame:
    """Importance table (cell type x gene) of one method at one sample budget."""
    entry = {**config["attribution"]["methods"].get(method, {}), BUDGET_PARAM[method]: budget}
    result = attribute_cells(
        model, prepared, method, entry, config["attribution"]["cells_per_type"], "true", config["seed"], "cpu"
    )
    table = cell_type_importance(result.X, result.obs["target"], result.var_names, config["importance"]["rank_by"])
    return table.pivot(index="gene", columns="cell_type", values="score")


def agreement(low: pd.DataFrame, high: pd.DataFrame, top: int) -> tuple[float, float]:
    """(mean Spearman, mean top-N overlap share) over cell types of two importance pivots."""
    rhos, overlaps = [], []
    for cell_type in high.columns:
        a, b = low[cell_type], high[cell_type]
        rhos.append(spearmanr(a, b).statistic)
        overlaps.append(len(set(a.nlargest(top).index) & set(b.nlargest(top).index)) / top)
    return float(np.mean(rhos)), float(np.mean(overlaps))


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    with open(args.config) as handle:
        config = validate_config(yaml.safe_load(handle))
    rows = []
    for name in args.datasets or sorted(config["datasets"]):
        spec = config["datasets"][name]
        prepared = prepare_dataset(load_dataset(spec), name, spec, config["prepare"], config["seed"])
        model, metadata, _, _ = fit_classifier(prepared, config, "standard", torch.device("cpu"))
        print(f"{name}: {prepared.n_obs} cells x {prepared.n_vars} genes, standard model accuracy "
              f"{metadata['metrics']['accuracy']:.3f}", flush=True)
        for method in args.methods:
            budgets = sorted(args.budgets or DEFAULT_BUDGETS[method](prepared.n_vars))
            tables, seconds = {}, {}
            for budget in sorted(set(budgets) | {4 * b for b in budgets}):
                started = time.perf_counter()
                tables[budget] = per_type_importance(model, prepared, config, method, budget)
                seconds[budget] = time.perf_counter() - started
            for budget in budgets:
                rho, overlap = agreement(tables[budget], tables[4 * budget], args.top)
                rows.append({"dataset": name, "method": method, "budget": budget, "reference": 4 * budget,
                             "spearman": round(rho, 4), f"top{args.top}": round(overlap, 4),
                             "seconds": round(seconds[budget], 1)})
                print(rows[-1], flush=True)
    print()
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
