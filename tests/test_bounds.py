"""Bound propagation: sound against an exact MILP and every attack, IBP never tighter than CROWN,
in agreement with ART's certifiers, and refusing what it cannot bound."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from scipy.optimize import Bounds, LinearConstraint, milp
from test_attacks import toy_problem
from torch import nn

from scrobin.attacks.apgd import apgd_attacks, broken_cells
from scrobin.attacks.bounds import (
    certified,
    certified_radius,
    interval_logits,
    linear_layers,
    margin_bounds,
    worst_case_logits,
)
from scrobin.attacks.gradient import pgd
from scrobin.errors import ScrobinError
from scrobin.model.network import MLPClassifier

N_NETWORKS = 40


def tiny_network(seed: int, n_inputs: int | None = None, hidden: tuple[int, ...] | None = None, n_classes: int = 3):
    """A random ReLU network of 2-4 inputs and one or two hidden layers of at most 8 units."""
    rng = np.random.default_rng(seed)
    n_inputs = n_inputs or int(rng.integers(2, 5))
    hidden = hidden or tuple(int(h) for h in rng.integers(2, 9, size=1 + seed % 2))
    torch.manual_seed(seed)
    layers, width = [], n_inputs
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    return nn.Sequential(*layers, nn.Linear(width, n_classes)).eval()


def tiny_cells(model: nn.Module, n_cells: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random cells labelled with the network's own calls (so some can be certified) plus one
    mislabelled cell (which never may be)."""
    n_inputs = model[0].in_features
    cells = np.random.default_rng(seed).normal(size=(n_cells, n_inputs)).astype(np.float32)
    with torch.no_grad():
        labels = model(torch.from_numpy(cells)).argmax(1).numpy()
    labels[0] = (labels[0] + 1) % model[-1].out_features
    return cells, labels


def affine_layers(model: nn.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(m.weight.detach().double().numpy(), m.bias.detach().double().numpy()) for m in model if isinstance(m, nn.Linear)]


def exact_min_margin(model: nn.Module, cell: np.ndarray, label: int, other: int, eps: float, clip=None) -> tuple[float, np.ndarray]:
    """Exact minimum of ``z_label - z_other`` over the box, by a MILP (big-M ReLU encoding, bounds
    from this test's own interval arithmetic), and the input attaining it."""
    layers = affine_layers(model)
    low = cell.astype(np.float64) - eps
    high = cell.astype(np.float64) + eps
    if clip is not None:
        low, high = np.clip(low, *clip), np.clip(high, *clip)
    n_inputs = len(cell)
    n_vars = n_inputs + sum(3 * w.shape[0] for w, _ in layers[:-1])
    rows, row_low, row_high = [], [], []
    var_low, var_high, integrality = list(low), list(high), [0] * n_inputs
    previous, offset = np.arange(n_inputs), n_inputs
    for weight, bias in layers[:-1]:
        units = weight.shape[0]
        centre, radius = (high + low) / 2, (high - low) / 2
        z_low = weight @ centre + bias - np.abs(weight) @ radius - 1e-7
        z_high = weight @ centre + bias + np.abs(weight) @ radius + 1e-7
        z, h, a = offset + np.arange(units), offset + units + np.arange(units), offset + 2 * units + np.arange(units)
        for i in range(units):
            for coefficients, lower_side, upper_side in (
                ({z[i]: 1.0, **{p: -w for p, w in zip(previous, weight[i])}}, bias[i], bias[i]),
                ({h[i]: 1.0, z[i]: -1.0}, 0.0, np.inf),                     # h >= z
                ({h[i]: 1.0, z[i]: -1.0, a[i]: -z_low[i]}, -np.inf, -z_low[i]),  # h <= z - l (1 - a)
                ({h[i]: 1.0, a[i]: -z_high[i]}, -np.inf, 0.0),              # h <= u a
            ):
                row = np.zeros(n_vars)
                for index, value in coefficients.items():
                    row[index] += value
                rows.append(row)
                row_low.append(lower_side)
                row_high.append(upper_side)
        var_low += [*z_low, *np.zeros(units), *np.zeros(units)]
        var_high += [*z_high, *np.maximum(z_high, 0), *np.ones(units)]
        integrality += [0] * (2 * units) + [1] * units
        previous, offset = h, offset + 3 * units
        low, high = np.maximum(z_low, 0), np.maximum(z_high, 0)
    weight, bias = layers[-1]
    objective = np.zeros(n_vars)
    objective[previous] = weight[label] - weight[other]
    result = milp(
        objective, constraints=LinearConstraint(np.array(rows), row_low, row_high), integrality=integrality,
        bounds=Bounds(var_low, var_high), options={"mip_rel_gap": 1e-10},
    )
    assert result.success, result.message
    return result.fun + bias[label] - bias[other], result.x[:n_inputs]


def margins_at(model: nn.Module, points: np.ndarray, label: int) -> np.ndarray:
    with torch.no_grad():
        logits = model.double()(torch.from_numpy(points.astype(np.float64))).numpy()
    model.float()
    return logits[:, label][:, None] - logits


def test_bounds_are_sound_ibp_is_never_tighter_and_the_milp_is_attained():
    compared, ibp_strictly_looser = 0, 0
    deep_pairs, full_crown_tighter, full_crown_looser = 0, 0, 0
    for seed in range(N_NETWORKS):
        model = tiny_network(seed)
        cells, labels = tiny_cells(model, 4, seed)
        eps = float(np.random.default_rng(seed).uniform(0.05, 0.6))
        clip = (float(cells.min()), float(cells.max())) if seed % 3 == 0 else None
        ibp = margin_bounds(model, cells, labels, eps, "ibp", clip=clip)
        crown_ibp = margin_bounds(model, cells, labels, eps, "crown-ibp", clip=clip)
        crown = margin_bounds(model, cells, labels, eps, "crown", clip=clip)
        if len(linear_layers(model)) == 2:
            # One hidden layer: its IBP box is exact, so CROWN has nothing to refine.
            assert np.array_equal(crown_ibp, crown)
        else:
            deep_pairs += crown.size
            full_crown_tighter += int((crown > crown_ibp + 1e-9).sum())
            full_crown_looser += int((crown < crown_ibp - 1e-9).sum())
        proven = certified(model, cells, labels, eps, clip=clip)
        for cell, label, ibp_row, middle_row, crown_row, is_certified in zip(cells, labels, ibp, crown_ibp, crown, proven):
            exact = np.full(len(crown_row), np.inf)
            for other in range(len(crown_row)):
                if other == label:
                    continue
                exact[other], argmin = exact_min_margin(model, cell, label, other, eps, clip)
                # The MILP's minimiser lies in the box (to HiGHS' feasibility tolerance) and attains
                # its value: the minimum is exact.
                box_low, box_high = np.clip(cell - eps, *(clip or (-np.inf, np.inf))), np.clip(cell + eps, *(clip or (-np.inf, np.inf)))
                assert np.all(argmin >= box_low - 1e-6) and np.all(argmin <= box_high + 1e-6)
                assert margins_at(model, argmin[None], label)[0, other] == pytest.approx(exact[other], abs=1e-5)
                assert ibp_row[other] <= crown_row[other] + 1e-12 and ibp_row[other] <= middle_row[other] + 1e-12
                assert crown_row[other] <= exact[other] + 1e-6 and middle_row[other] <= exact[other] + 1e-6
                compared += 1
                ibp_strictly_looser += ibp_row[other] < crown_row[other] - 1e-9
            assert crown_row[label] == ibp_row[label] == 0
            if is_certified:
                assert exact.min() > 0
    assert compared > 250
    # CROWN is not IBP under another name: on most (cell, class) pairs it is strictly tighter.
    assert ibp_strictly_looser > compared / 2
    # CROWN's own hidden boxes earn their cost on deeper networks; tighter boxes can loosen an
    # adaptive-slope bound, but rarely.
    assert full_crown_tighter > 0.2 * deep_pairs and full_crown_looser < full_crown_tighter / 5


def test_crown_is_exact_where_no_relu_can_change_state_and_ibp_is_not():
    exact_pairs, ibp_gaps = 0, []
    for seed in range(20):
        model = tiny_network(seed, hidden=(6,))
        cells, labels = tiny_cells(model, 5, seed)
        eps = 1e-3
        first = model[0]
        with torch.no_grad():
            pre_activation = first(torch.from_numpy(cells)).double().numpy()
        reach = eps * first.weight.detach().abs().sum(1).double().numpy()
        stable = (np.abs(pre_activation) > reach + 1e-6).all(axis=1)
        crown = margin_bounds(model, cells, labels, eps, "crown")
        ibp = margin_bounds(model, cells, labels, eps, "ibp")
        for index in np.flatnonzero(stable):
            for other in set(range(3)) - {labels[index]}:
                exact, _ = exact_min_margin(model, cells[index], labels[index], other, eps)
                assert crown[index, other] == pytest.approx(exact, abs=1e-6)
                ibp_gaps.append(exact - ibp[index, other])
                exact_pairs += 1
    assert exact_pairs > 100
    # Interval arithmetic loses the correlation between hidden units even where all are stable.
    assert np.mean(np.array(ibp_gaps) > 1e-6) > 0.5


def test_a_linear_model_is_bounded_exactly():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(5, 4)).eval()
    cells = rng.normal(size=(50, 5)).astype(np.float32)
    labels = rng.integers(0, 4, 50)
    eps = 0.2
    weight, bias = affine_layers(model)[0]
    rows = weight[labels][:, None, :] - weight[None]
    expected = (rows @ cells.astype(np.float64)[..., None]).squeeze(-1) + bias[labels][:, None] - bias[None]
    expected -= eps * np.abs(rows).sum(-1)
    for method in ("ibp", "crown"):
        assert np.allclose(margin_bounds(model, cells, labels, eps, method), expected, atol=1e-9)


def test_no_certified_cell_is_broken_by_any_attack():
    certified_total = 0
    for seed in range(N_NETWORKS):
        model = tiny_network(seed)
        cells, labels = tiny_cells(model, 16, seed + 1000)
        eps = float(np.random.default_rng(seed).uniform(0.1, 0.6))
        clip = (float(cells.min()), float(cells.max())) if seed % 3 == 0 else None
        attacks = {
            **{f"pgd_start{start}": partial(pgd, eps=eps, iterations=50, random_start=True, seed=start, clip=clip)
               for start in range(3)},
            **apgd_attacks(eps, iterations=50, n_restarts=2, seed=seed, clip=clip),
        }
        table = broken_cells(model, cells, labels, attacks)
        for method in ("ibp", "crown-ibp", "crown"):
            proven = certified(model, cells, labels, eps, method, clip=clip)
            assert not (proven & table["any"].to_numpy()).any()
            # Certified accuracy is at most every attack's accuracy, and at most the strongest.
            assert proven.mean() <= 1 - table.drop(columns="clean").mean().max()
        certified_total += int(proven.sum())
    assert certified_total > 50


def test_crown_certifies_at_least_what_arts_interval_and_zonotope_certifiers_do():
    from art.estimators.certification.deep_z import PytorchDeepZ
    from art.estimators.certification.interval import PyTorchIBPClassifier

    compared_deepz = 0
    for seed in range(12):
        model = tiny_network(seed, hidden=(8,), n_classes=4)
        n_inputs = model[0].in_features
        cells, labels = tiny_cells(model, 12, seed)
        eps = 0.25
        interval = PyTorchIBPClassifier(
            model=model, loss=nn.CrossEntropyLoss(), input_shape=(n_inputs,), nb_classes=4, device_type="cpu"
        )
        art_bounds = interval.predict_intervals(cells, bounds=eps)
        lower, upper = interval_logits(model, cells, eps)
        assert np.allclose(art_bounds[:, 0], lower, atol=1e-5) and np.allclose(art_bounds[:, 1], upper, atol=1e-5)
        art_certified = interval.certify(art_bounds, labels)
        assert not (art_certified & ~certified(model, cells, labels, eps, "ibp")).any()
        assert not (art_certified & ~certified(model, cells, labels, eps, "crown")).any()

        # DeepZ's zonotope over the unclipped box (ART clips to [0, 1] pixels by default).
        zonotope = PytorchDeepZ(
            model=model, loss=nn.CrossEntropyLoss(), input_shape=(n_inputs,), nb_classes=4, device_type="cpu",
            concrete_to_zonotope=lambda sample, bound: (sample[None], np.eye(len(sample), dtype=np.float32) * bound),
        )
        crown = margin_bounds(model, cells, labels, eps, "crown")
        centres, generator_sets = zonotope.predict_zonotopes(cells, eps)
        for label, crown_row, centre, generators in zip(labels, crown, centres, generator_sets):
            centre = centre[0]
            deepz = centre[label] - centre - np.abs(generators[:, [label]] - generators).sum(axis=0)
            # On one hidden layer CROWN's parallel-slope bound is DeepZ's; the best of slopes is at least it.
            assert np.all(crown_row >= deepz - 1e-5)
            compared_deepz += 1
    assert compared_deepz == 12 * 12


def test_certified_radius_is_certified_and_bisection_is_tight():
    cells, labels, model = toy_problem()
    cells, labels = cells[:60], labels[:60]
    eps_max, tolerance = 1.0, 0.01
    radius = {method: certified_radius(model, cells, labels, eps_max, method, tolerance) for method in ("ibp", "crown")}
    for method, values in radius.items():
        inside = values > 0
        assert inside.mean() > 0.5 and (values < eps_max).any()
        assert certified(model, cells[inside], labels[inside], values[inside], method).all()
    ibp = radius["ibp"]
    # IBP is monotone in eps: certified at every smaller radius, not one tolerance further out.
    for share in (0.25, 0.5, 0.9):
        assert certified(model, cells[ibp > 0], labels[ibp > 0], share * ibp[ibp > 0], "ibp").all()
    below_max = (ibp > 0) & (ibp < eps_max)
    assert not certified(model, cells[below_max], labels[below_max], ibp[below_max] + tolerance, "ibp").any()
    assert np.all(radius["crown"] >= ibp - tolerance)
    assert np.median(radius["crown"]) > np.median(ibp)


def test_radius_is_sound_for_every_smaller_box_on_tiny_networks():
    for seed in range(10):
        model = tiny_network(seed, hidden=(6, 4))
        cells, labels = tiny_cells(model, 6, seed)
        radius = certified_radius(model, cells, labels, 2.0, "crown", tolerance=0.01)
        assert radius[0] == 0  # the mislabelled cell
        for cell, label, r in zip(cells, labels, radius):
            if r == 0:
                continue
            for share in (0.5, 1.0):
                minimum = min(exact_min_margin(model, cell, label, other, share * r)[0]
                              for other in range(3) if other != label)
                assert minimum > 0


def test_misclassified_cells_are_never_certified():
    cells, labels, model = toy_problem()
    wrong = (labels + 1) % 4
    for method in ("ibp", "crown"):
        assert not certified(model, cells, wrong, 0.0, method).any()
        assert certified(model, cells, labels, 0.0, method).mean() == pytest.approx(
            (model(torch.from_numpy(cells)).argmax(1).numpy() == labels).mean()
        )


def test_clipping_the_box_only_tightens_interval_bounds():
    cells, labels, model = toy_problem()
    cells, labels = cells[:80], labels[:80]
    domain = (float(cells.min()), float(cells.max()))
    free = margin_bounds(model, cells, labels, 1.0, "ibp")
    clipped = margin_bounds(model, cells, labels, 1.0, "ibp", clip=domain)
    assert np.all(clipped >= free - 1e-9) and np.any(clipped > free + 1e-6)
    # A domain wider than every box changes nothing.
    wide = (domain[0] - 1, domain[1] + 1)
    assert np.array_equal(margin_bounds(model, cells, labels, 0.5, "crown", clip=wide),
                          margin_bounds(model, cells, labels, 0.5, "crown"))
    with pytest.raises(ScrobinError, match="cells lie outside clip"):
        margin_bounds(model, cells, labels, 0.5, clip=(-0.5, 0.5))


def test_dropout_is_ignored_and_the_callers_mode_kept():
    cells, labels, model = toy_problem()
    without_dropout = nn.Sequential(*[m for m in model.layers if not isinstance(m, nn.Dropout)])
    model.train()
    with_dropout = margin_bounds(model, cells[:40], labels[:40], 0.2)
    assert model.training
    assert np.array_equal(with_dropout, margin_bounds(without_dropout, cells[:40], labels[:40], 0.2))
    assert len(linear_layers(MLPClassifier(7, 3))) == 8


def test_results_do_not_depend_on_the_batch_and_repeat_exactly():
    cells, labels, model = toy_problem()
    whole = margin_bounds(model, cells[:50], labels[:50], 0.3)
    assert np.allclose(margin_bounds(model, cells[:50], labels[:50], 0.3, batch_size=7), whole, atol=1e-12)
    assert np.array_equal(margin_bounds(model, cells[:50], labels[:50], 0.3), whole)


def test_global_torch_state_and_model_flags_are_left_alone():
    cells, labels, model = toy_problem()
    rng_state, grad_enabled = torch.get_rng_state(), torch.is_grad_enabled()
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    flags = [p.requires_grad for p in model.parameters()]
    certified_radius(model, cells[:20], labels[:20], 0.5, tolerance=0.05)
    margin_bounds(model, cells[:20], labels[:20], 0.3, "ibp")
    assert torch.equal(torch.get_rng_state(), rng_state) and torch.is_grad_enabled() == grad_enabled
    assert torch.get_default_dtype() == dtype and torch.get_num_threads() == threads
    assert [p.requires_grad for p in model.parameters()] == flags and not model.training


def test_worst_case_logits_bound_the_loss_and_train_the_weights():
    cells, labels, model = toy_problem()
    x, y = torch.from_numpy(cells[:30]), torch.from_numpy(labels[:30])
    eps = 0.3
    worst = worst_case_logits(model, x, y, eps)
    assert worst.dtype == torch.float32
    assert np.allclose(-worst.detach().numpy(), margin_bounds(model, cells[:30], labels[:30], eps, "ibp"), atol=1e-4)
    worst_loss = nn.functional.cross_entropy(worst, y, reduction="none")
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        noisy = x + eps * (2 * torch.rand(x.shape, generator=generator) - 1)
        with torch.no_grad():
            assert torch.all(nn.functional.cross_entropy(model(noisy), y, reduction="none") <= worst_loss + 1e-5)
    worst_loss.mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


class Scale(nn.Module):
    def forward(self, x):
        return 2 * x


class Wrapped(nn.Module):
    """Holds more than its ``layers``: its forward may do anything with them."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(3, 2))
        self.head = nn.Linear(2, 2)


@pytest.mark.parametrize(
    ("model", "mentions"),
    [
        (nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), "layer 1 \\(Tanh\\)"),
        (nn.Sequential(nn.Linear(3, 4), Scale(), nn.Linear(4, 2)), "Scale"),
        (nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)), "alternates Linear and ReLU"),
        (nn.Sequential(nn.ReLU(), nn.Linear(3, 2)), "starting and ending with Linear"),
        (nn.Sequential(nn.Linear(3, 4), nn.ReLU()), "last layer gives the logits"),
        (nn.Linear(3, 2), "MLPClassifier or an nn.Sequential"),
        (Wrapped(), "cannot bound a Wrapped"),
    ],
)
def test_networks_the_bounds_cannot_handle_are_refused(model, mentions):
    with pytest.raises(ScrobinError, match=mentions):
        margin_bounds(model, np.zeros((2, 3), np.float32), np.zeros(2, np.int64), 0.1)


@pytest.mark.parametrize(
    ("kwargs", "mentions"),
    [
        ({"method": "deepz"}, "ibp, crown-ibp, crown"),
        ({"eps": -0.1}, "eps must be finite and >= 0"),
        ({"eps": np.ones(3)}, "one radius or one per cell"),
        ({"clip": (1.0, 0.0)}, "clip"),
        ({"x": np.zeros((4, 9), np.float32)}, "network takes 50"),
        ({"y": np.full(4, 7)}, "label 7"),
    ],
)
def test_bad_requests_are_refused_in_one_line(kwargs, mentions):
    cells, labels, model = toy_problem()
    request = {"x": cells[:4], "y": labels[:4], "eps": 0.1, **kwargs}
    with pytest.raises(ScrobinError, match=mentions) as error:
        margin_bounds(model, **request)
    assert "\n" not in str(error.value)
    with pytest.raises(ScrobinError, match="tolerance"):
        certified_radius(model, cells[:4], labels[:4], 1.0, tolerance=0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU visible")
def test_cuda_bounds_match_the_cpu():
    cells, labels, model = toy_problem()
    on_cpu = margin_bounds(model, cells, labels, 0.3)
    on_gpu = margin_bounds(model.cuda(), torch.from_numpy(cells).cuda(), torch.from_numpy(labels).cuda(), 0.3)
    assert np.allclose(on_cpu, on_gpu, atol=1e-9)
    assert (certified(model, cells, labels, 0.3) == certified(model.cpu(), cells, labels, 0.3)).all()
