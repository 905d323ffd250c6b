"""Attribution throughput against the model's own limit and against the reference libraries.

For every registered method this reports cells/s and model rows/s (rows counted by a hook on the
network, so the count is what actually ran), next to

(a) the limit of the same network on the same machine: rows/s of one large forward pass
    (for KernelSHAP and LIME, which only run forward passes) or forward + input-gradient pass
    (for the gradient methods), at the methods' own ``batch_size``. Activation maximization is a
    sequence of ascent steps on one row per class, so its limit is the forward + backward rate at
    that many rows. The limit is measured just before and just after each method and the higher
    value kept, as the load of a shared machine drifts;
(b) the per-cell explainers the paper used on the same network, cells, background and sample
    counts: shap.KernelExplainer, shap.GradientExplainer, shap.DeepExplainer and
    lime.lime_tabular.LimeTabularExplainer, plus captum's per-cell KernelShap and Lime. They are
    slow, so they run on ``--reference-cells`` cells and their per-cell rate is extrapolated.

The network is the paper's MLP (``scrobin.model.network.MLPClassifier``) with random weights: throughput
does not depend on training. Run from the repository root:

    .venv/bin/python benchmarks/bench_attribution.py --cells 200 --genes 1200
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from scrobin.attribution import METHODS, compute_attributions
from scrobin.attribution.baselines import baseline_rows
from scrobin.attribution.kernel_shap import default_kernel_shap_samples
from scrobin.model.network import MLPClassifier

FORWARD_ONLY = ("kernelshap", "lime")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200, help="cells explained per method")
    parser.add_argument("--genes", type=int, default=1200, help="genes (model inputs)")
    parser.add_argument("--classes", type=int, default=9, help="cell types (model outputs)")
    parser.add_argument("--train-cells", type=int, default=1000, help="training cells (background)")
    parser.add_argument(
        "--background", type=int, default=100, help="n_baseline_samples for deepshap/gradientshap"
    )
    parser.add_argument("--batch-size", type=int, default=8192, help="model rows per pass")
    parser.add_argument(
        "--reference-cells", type=int, default=2, help="cells given to each reference library"
    )
    parser.add_argument(
        "--methods", nargs="+", default=list(METHODS), choices=list(METHODS), help="methods to run"
    )
    parser.add_argument("--no-reference", action="store_true", help="skip the reference libraries")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


@contextmanager
def counted_rows(model: nn.Module) -> Iterator[list[int]]:
    """Count the rows entering ``model``'s first layer while the context is open.

    The first layer rather than the model itself, because captum's DeepLIFT re-packs the
    model's arguments in its own pre-hook and appends the baselines there.
    """
    counter = [0]
    first_layer = next(module for module in model.modules() if isinstance(module, nn.Linear))

    def count(_module: nn.Module, inputs: tuple) -> None:
        counter[0] += inputs[0].shape[0]

    handle = first_layer.register_forward_pre_hook(count)
    try:
        yield counter
    finally:
        handle.remove()


def typical_rate(run: Callable[[], None], rows: int, min_seconds: float = 1.0) -> float:
    """Rows per second of the median of repeated runs (after one warm-up run).

    The median, not the fastest run: a method's time is one run under the same machine load, and
    on a shared machine the fastest of many short runs is a lucky moment, not a rate.
    """
    run()
    durations: list[float] = []
    while sum(durations) < min_seconds or len(durations) < 3:
        started = time.perf_counter()
        run()
        durations.append(time.perf_counter() - started)
    return rows / float(np.median(durations))


def model_limits(model: nn.Module, n_genes: int, n_classes: int, rows: int) -> dict[str, float]:
    """Rows/s of one batched forward pass and of a forward + input-gradient pass."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(rows, n_genes, generator=generator)
    targets = torch.randint(0, n_classes, (rows, 1), generator=generator)
    model.eval().requires_grad_(False)

    def forward() -> None:
        with torch.inference_mode():
            model(inputs)

    def forward_backward() -> None:
        leaf = inputs.clone().requires_grad_(True)
        model(leaf).gather(1, targets).sum().backward()

    limits = {
        "forward": typical_rate(forward, rows),
        "forward+backward": typical_rate(forward_backward, rows),
    }
    model.requires_grad_(True)
    return limits


def run_method(name, model, x, target, background, args) -> dict:
    """Run ``name`` with its registry defaults (and ``--background`` rows where it samples one).

    A warm-up run on two cells first takes one-off costs (lazy imports, first-call set-up) out of
    the timing, as the limit's warm-up pass does for the network.
    """
    samples_background = METHODS[name].default_baseline == "train_sample"
    baseline_spec = {"n_baseline_samples": args.background} if samples_background else {}

    def attribute(cells: slice) -> dict:
        return compute_attributions(
            model,
            x[cells],
            target[cells],
            name,
            {"batch_size": args.batch_size},
            baseline_spec,
            background=background,
            seed=args.seed,
            device="cpu",
        )[1]

    attribute(slice(0, 2))
    with counted_rows(model) as rows:
        info = attribute(slice(None))
    runtime = info["runtime_seconds"]
    return {
        "rows": rows[0],
        "runtime": runtime,
        "cells_per_s": len(x) / runtime,
        "rows_per_s": rows[0] / runtime,
        "info": info,
    }


def _per_cell_rate(explain_cell: Callable[[int], None], n_cells: int) -> float:
    started = time.perf_counter()
    for cell in range(n_cells):
        explain_cell(cell)
    return n_cells / (time.perf_counter() - started)


def reference_rates(name, info, model, x, target, background, args) -> dict[str, float]:
    """Cells/s of the per-cell reference explainers for method ``name`` on the same settings."""
    n_genes = x.shape[1]
    cells = min(args.reference_cells, len(x))
    # The run's first draw from its seed is the background sample: the same rows as the method's.
    rng = np.random.default_rng(args.seed)
    baseline = info["baseline"]
    references = baseline_rows(
        baseline["baseline"], baseline["n_baseline_samples"], n_genes, background, rng
    )
    model.eval()

    def target_output(rows: np.ndarray, class_index: int) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.as_tensor(rows, dtype=torch.float32))[:, class_index].numpy()

    def probabilities(rows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return torch.softmax(model(torch.as_tensor(rows, dtype=torch.float32)), 1).numpy()

    rates = {}
    if name == "kernelshap":
        import shap
        from captum.attr import KernelShap

        n_samples = info["params"]["n_samples"] or default_kernel_shap_samples(n_genes)

        def shap_kernel(cell: int) -> None:
            explainer = shap.KernelExplainer(
                lambda rows: target_output(rows, int(target[cell])), references
            )
            explainer.shap_values(x[cell : cell + 1], nsamples=n_samples, silent=True)

        def captum_kernel(cell: int) -> None:
            KernelShap(model).attribute(
                torch.as_tensor(x[cell : cell + 1]),
                baselines=torch.as_tensor(references[:1]),
                target=int(target[cell]),
                n_samples=n_samples,
            )

        rates["shap.KernelExplainer"] = _per_cell_rate(shap_kernel, cells)
        rates["captum.KernelShap"] = _per_cell_rate(captum_kernel, cells)
    elif name == "lime":
        from captum.attr import Lime
        from lime.lime_tabular import LimeTabularExplainer

        n_samples = info["params"]["n_samples"]
        explainer = LimeTabularExplainer(background, mode="classification", random_state=args.seed)

        def lime_tabular(cell: int) -> None:
            explainer.explain_instance(
                x[cell],
                probabilities,
                labels=(int(target[cell]),),
                num_features=n_genes,
                num_samples=n_samples,
            )

        def captum_lime(cell: int) -> None:
            Lime(model).attribute(
                torch.as_tensor(x[cell : cell + 1]),
                baselines=torch.as_tensor(references[:1]),
                target=int(target[cell]),
                n_samples=n_samples,
            )

        rates["lime.LimeTabularExplainer"] = _per_cell_rate(lime_tabular, cells)
        rates["captum.Lime"] = _per_cell_rate(captum_lime, cells)
    elif name == "gradientshap":
        import shap

        explainer = shap.GradientExplainer(model, torch.as_tensor(references))

        def shap_gradient(cell: int) -> None:
            explainer.shap_values(
                torch.as_tensor(x[cell : cell + 1]),
                nsamples=info["params"]["n_samples"],
                ranked_outputs=1,
                rseed=args.seed,
            )

        rates["shap.GradientExplainer"] = _per_cell_rate(shap_gradient, cells)
    elif name == "deepshap":
        import shap

        explainer = shap.DeepExplainer(model, torch.as_tensor(references))

        def shap_deep(cell: int) -> None:
            explainer.shap_values(
                torch.as_tensor(x[cell : cell + 1]), ranked_outputs=1, check_additivity=False
            )

        rates["shap.DeepExplainer"] = _per_cell_rate(shap_deep, cells)
    return rates


def main() -> None:
    args = parse_args()
    warnings.filterwarnings("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = MLPClassifier(args.genes, args.classes)
    x = rng.normal(size=(args.cells, args.genes)).astype(np.float32)
    target = rng.integers(0, args.classes, args.cells)
    background = rng.normal(size=(args.train_cells, args.genes)).astype(np.float32)

    print(
        f"{args.cells} cells x {args.genes} genes, {args.classes} classes, paper MLP, "
        f"{torch.get_num_threads()} CPU threads, batch_size {args.batch_size}"
    )
    print(
        f"{'method':<24}{'rows/cell':>10}{'seconds':>9}{'cells/s':>10}{'rows/s':>11}"
        f"{'limit rows/s':>14}{'limit/ours':>11}  reference (cells/s; ours faster by)"
    )
    for name in args.methods:
        limit_rows = args.classes if name == "activation_maximization" else args.batch_size
        pass_kind = "forward" if name in FORWARD_ONLY else "forward+backward"

        def measure_limit() -> float:
            return model_limits(model, args.genes, args.classes, limit_rows)[pass_kind]

        limit_before = measure_limit()
        result = run_method(name, model, x, target, background, args)
        limit = max(limit_before, measure_limit())
        references = (
            {}
            if args.no_reference
            else reference_rates(name, result["info"], model, x, target, background, args)
        )
        reference_text = "; ".join(
            f"{library} {rate:.3g} ({result['cells_per_s'] / rate:,.0f}x)"
            for library, rate in references.items()
        )
        print(
            f"{name:<24}{result['rows'] / args.cells:>10.0f}{result['runtime']:>9.2f}"
            f"{result['cells_per_s']:>10.1f}{result['rows_per_s']:>11,.0f}{limit:>14,.0f}"
            f"{limit / result['rows_per_s']:>11.2f}  {reference_text}",
            flush=True,
        )


if __name__ == "__main__":
    main()
