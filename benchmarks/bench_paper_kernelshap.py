"""What KernelSHAP costs at ``config/paper.yaml``'s settings: CPU seconds per cell, and for the run.

The paper explains with 500 training cells as KernelSHAP's background, so every coalition costs
500 rows through the paper's seven-layer MLP, and a run explains every test cell of every model.
That is too slow to run whole on a laptop, so this measures it: one cell's KernelSHAP on one
thread at two reduced coalition budgets (the cost is linear in coalitions x background rows, and
the two points check it), extrapolated to the default budget (3 x genes + 3072) and multiplied
by the explanations the run makes: every explained test cell of each model (``attribute``) and
``stability_cells x (1 + stability_perturbations)`` in each ``stability`` job. The network has
random weights: the cost does not depend on training. Run from the repository root:

    .venv/bin/python benchmarks/bench_paper_kernelshap.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scrobin.entrypoint import limit_threads

limit_threads(1)

import numpy as np
import pandas as pd
import torch

from scrobin.attribution.compute import compute_attributions
from scrobin.attribution.kernel_shap import default_kernel_shap_samples
from scrobin.model.network import MLPClassifier


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The default run's datasets: genes after preprocessing and test cells explained per model.
    parser.add_argument("--datasets", nargs="+", default=["simulation:1200:540:9", "pbmc68k:765:142:10"],
                        help="name:genes:explained cells per model:classes")
    parser.add_argument("--background", type=int, default=500, help="background rows (paper.yaml: 500)")
    parser.add_argument("--budgets", type=int, nargs=2, default=[3000, 4500], help="two reduced coalition counts timed (at least 2 x genes)")
    parser.add_argument("--models", type=int, default=9, help="models per dataset (3 regimes x 3 replicates)")
    parser.add_argument("--stability-explanations", type=int, default=16 * (1 + 4),
                        help="KernelSHAP explanations of one stability job (cells x (1 + perturbations))")
    return parser.parse_args()


def seconds_per_cell(model: MLPClassifier, n_genes: int, n_samples: int, background: np.ndarray) -> float:
    """CPU seconds of one cell's KernelSHAP with ``n_samples`` coalitions (one thread)."""
    x = np.random.default_rng(1).normal(size=(1, n_genes)).astype(np.float32)
    started = time.process_time()
    compute_attributions(
        model, x, np.zeros(1, dtype=np.int64), "kernelshap", {"n_samples": n_samples},
        {"baseline": "train_sample", "n_baseline_samples": len(background)}, background=background, seed=0,
        device="cpu",
    )
    return time.process_time() - started


def main() -> None:
    args = parse_args()
    rows = []
    for entry in args.datasets:
        name, genes, cells, classes = entry.split(":")
        n_genes, n_cells = int(genes), int(cells)
        torch.manual_seed(0)
        model = MLPClassifier(n_genes, int(classes))
        background = np.random.default_rng(0).normal(size=(args.background, n_genes)).astype(np.float32)
        low, high = args.budgets
        low_s, high_s = (seconds_per_cell(model, n_genes, budget, background) for budget in (low, high))
        per_coalition = (high_s - low_s) / (high - low)
        budget = default_kernel_shap_samples(n_genes)
        per_cell = low_s + per_coalition * (budget - low)
        attribute_h = per_cell * n_cells / 3600
        stability_h = per_cell * args.stability_explanations / 3600
        rows.append({
            "dataset": name, "genes": n_genes, "coalitions": budget, f"s at {low}": round(low_s, 1),
            f"s at {high}": round(high_s, 1), "CPU s per cell": round(per_cell, 1),
            "attribute CPU h per model": round(attribute_h, 2), "stability CPU h per model": round(stability_h, 2),
            f"{args.models} models CPU h": round(args.models * (attribute_h + stability_h), 1),
        })
    table = pd.DataFrame(rows)
    print(f"KernelSHAP, {args.background} background rows, paper MLP, one thread")
    print(table.to_string(index=False))
    print(f"all datasets: {table.iloc[:, -1].sum():.0f} CPU hours")


if __name__ == "__main__":
    main()
