"""Throughput of scrobin's native FGSM/PGD against ART's at identical settings.

Run ``python benchmarks/bench_attacks.py --help`` for the sizes; the defaults are the paper's
scale (7,000 cells x 2,500 genes, the paper MLP, PGD with 10 iterations). The network is
untrained: throughput depends only on the shapes. Each ART row also reports the share of
(cell, gene) values that differ from the native adversarial cells, so the table shows the two did
the same work; a handful can differ where a gradient component is ~0 and float rounding flips its sign.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from scrobin.attacks.gradient import fgsm, pgd
from scrobin.attacks.run import run_attack
from scrobin.model.network import MLPClassifier
from scrobin.runtime import resolve_device, seed_everything


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=7000, help="cells attacked")
    parser.add_argument("--genes", type=int, default=2500, help="genes per cell")
    parser.add_argument("--classes", type=int, default=9, help="cell types")
    parser.add_argument("--eps", type=float, default=1.0, help="L-inf budget")
    parser.add_argument("--iterations", type=int, default=10, help="PGD iterations")
    parser.add_argument("--native-batch-size", type=int, default=1024, help="cells per native batch")
    parser.add_argument("--art-batch-sizes", type=int, nargs="+", default=[32, 1024], help="ART batch sizes")
    parser.add_argument("--repeats", type=int, default=3, help="runs per row; the fastest is reported")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def timed(device: torch.device, craft: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    """Fastest wall seconds of ``repeats`` calls (GPU work included) and the result.

    The minimum, as in ``timeit``, because on a shared machine the slower runs measure the
    neighbours' load rather than the attack.
    """
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = craft()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, result


def row(attack: str, backend: str, batch_size: int, seconds: float, n_cells: int, differing: str) -> str:
    return f"{attack:<6} {backend:<7} {batch_size:>6} {seconds:>9.2f} {n_cells / seconds:>10.0f} {differing:>10}"


def main() -> None:
    args = parse_args()
    rng = seed_everything(args.seed)
    device = resolve_device(args.device)
    cells = rng.normal(size=(args.cells, args.genes)).astype(np.float32)
    labels = rng.integers(0, args.classes, args.cells)
    model = MLPClassifier(args.genes, args.classes).to(device).eval()
    step = args.eps / 4
    native = {
        "fgsm": lambda: fgsm(model, cells, labels, args.eps, batch_size=args.native_batch_size),
        "pgd": lambda: pgd(
            model, cells, labels, args.eps, step_size=step, iterations=args.iterations,
            batch_size=args.native_batch_size,
        ),
    }
    art_params = {
        "fgsm": ("FastGradientMethod", {"eps": args.eps, "eps_step": args.eps}),
        "pgd": ("ProjectedGradientDescent", {"eps": args.eps, "eps_step": step, "max_iter": args.iterations}),
    }
    timed(device, lambda: fgsm(model, cells[:64], labels[:64], args.eps), 1)  # warm-up: kernels, allocator
    print(f"{args.cells} cells x {args.genes} genes, paper MLP, eps {args.eps}, PGD {args.iterations} "
          f"iterations, device {device}, {torch.get_num_threads()} threads, best of {args.repeats}")
    print(f"{'attack':<6} {'backend':<7} {'batch':>6} {'seconds':>9} {'cells/s':>10} {'differing':>10}")
    for name, craft in native.items():
        seconds, reference = timed(device, craft, args.repeats)
        print(row(name, "native", args.native_batch_size, seconds, args.cells, ""))
        art_name, params = art_params[name]
        for batch_size in args.art_batch_sizes:
            seconds, crafted = timed(
                device,
                lambda: run_attack(model, cells, labels, art_name, {**params, "batch_size": batch_size}, backend="art"),
                args.repeats,
            )
            differing = float(np.mean(np.abs(crafted - reference) > 1e-4 * max(1.0, args.eps)))
            print(row(name, "art", batch_size, seconds, args.cells, f"{differing:.1e}"))


if __name__ == "__main__":
    main()
