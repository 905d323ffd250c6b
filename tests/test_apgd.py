"""APGD-CE / APGD-T: stronger than PGD-10 and ART's APGD, near the exact optimum on tiny networks,
immune to saturated logits, in the box, seeded; and the worst case over a list of attacks."""

from __future__ import annotations

import copy
from functools import partial

import numpy as np
import pytest
import torch
from test_attacks import accuracy, toy_problem
from test_bounds import exact_min_margin, tiny_cells, tiny_network
from torch import nn

from scrobin.attacks.apgd import _checkpoints, apgd, apgd_attacks, broken_cells
from scrobin.attacks.bounds import certified, margin_bounds
from scrobin.attacks.gradient import pgd
from scrobin.attacks.run import run_attack
from scrobin.errors import ScrobinError

# eps at which the toy model is partly robust, so attacks are compared on a mix of outcomes.
PARTIAL_EPS = 0.6


def test_checkpoints_follow_the_paper():
    # Croce & Hein 2020: p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06).
    assert [at for at, _ in _checkpoints(100)] == [22, 41, 57, 70, 80, 87, 93, 99]
    assert [interval for _, interval in _checkpoints(100)][-2:] == [6, 6]


def test_apgd_is_at_least_as_strong_as_pgd10_and_arts_apgd():
    cells, labels, model = toy_problem()
    after_pgd = accuracy(model, pgd(model, cells, labels, PARTIAL_EPS), labels)
    after_ce = accuracy(model, apgd(model, cells, labels, PARTIAL_EPS), labels)
    after_t = accuracy(model, apgd(model, cells, labels, PARTIAL_EPS, loss="dlr", targeted=True), labels)
    through_art = run_attack(
        model, cells, labels, "AutoProjectedGradientDescent",
        {"eps": PARTIAL_EPS, "eps_step": 2 * PARTIAL_EPS, "max_iter": 100, "nb_random_init": 1,
         "loss_type": "cross_entropy", "batch_size": 400, "seed": 0},
        backend="art",
    )
    assert 0.2 < after_t < 0.9
    assert after_ce <= after_pgd and after_t <= after_pgd
    assert after_ce <= accuracy(model, through_art, labels) + 0.01


def test_apgd_finds_nearly_every_cell_the_exact_search_can_break():
    breakable, found = 0, 0
    for seed in range(15):
        model = tiny_network(seed)
        cells, labels = tiny_cells(model, 8, seed + 7)
        eps = 0.4
        table = broken_cells(model, cells, labels, apgd_attacks(eps))
        for index in range(1, len(cells)):
            minimum = min(exact_min_margin(model, cells[index], labels[index], other, eps)[0]
                          for other in range(3) if other != labels[index])
            if minimum < -0.05:
                breakable += 1
                found += bool(table["any"][index])
            if minimum > 0:
                assert not table["any"][index]
    assert breakable >= 15
    assert found >= 0.9 * breakable


def test_on_a_linear_model_the_targeted_attack_breaks_exactly_the_uncertified_cells():
    rng = np.random.default_rng(1)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 4)).eval()
    cells = rng.normal(size=(300, 6)).astype(np.float32)
    with torch.no_grad():
        labels = model(torch.from_numpy(cells)).argmax(1).numpy()
    eps = 0.15
    exact = margin_bounds(model, cells, labels, eps, "ibp")  # exact for one affine layer
    exact[np.arange(len(cells)), labels] = np.inf
    clear = np.abs(exact.min(axis=1)) > 1e-3
    broken = broken_cells(model, cells, labels, apgd_attacks(eps, iterations=50))["apgd_t"].to_numpy()
    proven = certified(model, cells, labels, eps, "ibp")
    assert 0.1 < proven[clear].mean() < 0.9
    assert np.array_equal(broken[clear], ~proven[clear])


def test_dlr_breaks_a_model_whose_saturated_softmax_masks_the_gradient():
    cells, labels, model = toy_problem()
    saturated = copy.deepcopy(model)
    with torch.no_grad():
        saturated.layers[-1].weight.mul_(1e4)
        saturated.layers[-1].bias.mul_(1e4)
    eps = 1.0
    table = broken_cells(saturated, cells, labels, {
        "pgd10": partial(pgd, eps=eps), **apgd_attacks(eps, iterations=50),
    })
    robust = 1 - table.mean()
    # Cross-entropy's gradient underflows to zero in float32, so PGD-10 cannot move and overstates
    # robust accuracy; the DLR loss is scale-invariant and finds the attacks that work on the
    # unscaled model.
    assert robust["pgd10"] > 0.9
    assert robust["apgd_t"] < robust["pgd10"] - 0.5
    assert robust["any"] == pytest.approx(accuracy(model, apgd(model, cells, labels, eps, loss="dlr", targeted=True, iterations=50), labels), abs=0.05)


def test_adversarial_cells_stay_in_the_clipped_box():
    cells, labels, model = toy_problem()
    clip = (float(cells.min()), float(cells.max()) - 1.0)
    cells = np.clip(cells, *clip)
    for targeted, loss in ((False, "ce"), (True, "dlr"), (True, "ce")):
        crafted = apgd(model, cells, labels, PARTIAL_EPS, loss=loss, targeted=targeted, iterations=20, clip=clip)
        assert np.abs(crafted - cells).max() <= PARTIAL_EPS + 1e-6
        assert crafted.min() >= clip[0] and crafted.max() <= clip[1]


def test_misclassified_cells_are_returned_unchanged_and_counted_broken():
    cells, labels, model = toy_problem()
    wrong = (labels + 1) % 4
    crafted = apgd(model, cells[:20], wrong[:20], PARTIAL_EPS, iterations=10)
    assert np.array_equal(crafted, cells[:20])
    table = broken_cells(model, cells[:20], wrong[:20], {"apgd_ce": partial(apgd, eps=PARTIAL_EPS, iterations=10)})
    assert table["clean"].all() and table["any"].all()


def test_broken_cells_is_the_union_of_the_attacks():
    cells, labels, model = toy_problem()
    attacks = {"pgd10": partial(pgd, eps=PARTIAL_EPS), **apgd_attacks(PARTIAL_EPS, iterations=20)}
    table = broken_cells(model, cells, labels, attacks)
    assert list(table.columns) == ["clean", "pgd10", "apgd_ce", "apgd_t", "any"]
    assert np.array_equal(table["any"], table[["clean", "pgd10", "apgd_ce", "apgd_t"]].any(axis=1))
    assert table["any"].mean() >= table.drop(columns="any").mean().max()
    with pytest.raises(ScrobinError, match="reserved"):
        broken_cells(model, cells, labels, {"any": attacks["pgd10"]})


def test_runs_repeat_given_the_seed_and_leave_global_state_alone():
    cells, labels, model = toy_problem()
    rng_state, grad_enabled = torch.get_rng_state(), torch.is_grad_enabled()
    flags = [p.requires_grad for p in model.parameters()]
    model.train()
    first = apgd(model, cells[:50], labels[:50], PARTIAL_EPS, loss="dlr", targeted=True, iterations=20, seed=3)
    again = apgd(model, cells[:50], labels[:50], PARTIAL_EPS, loss="dlr", targeted=True, iterations=20, seed=3)
    other = apgd(model, cells[:50], labels[:50], PARTIAL_EPS, loss="dlr", targeted=True, iterations=20, seed=4)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert torch.equal(torch.get_rng_state(), rng_state) and torch.is_grad_enabled() == grad_enabled
    assert model.training and [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    generator = torch.Generator().manual_seed(3)
    state = generator.get_state()
    apgd(model, cells[:5], labels[:5], PARTIAL_EPS, iterations=5, generator=generator)
    assert not torch.equal(generator.get_state(), state)


def test_tensors_come_back_as_tensors_on_their_device():
    cells, labels, model = toy_problem()
    crafted = apgd(model, torch.from_numpy(cells[:10]), torch.from_numpy(labels[:10]), PARTIAL_EPS, iterations=5)
    assert isinstance(crafted, torch.Tensor) and crafted.dtype == torch.float32 and crafted.shape == (10, 50)


@pytest.mark.parametrize(
    ("kwargs", "mentions"),
    [
        ({"loss": "hinge"}, "ce, dlr"),
        ({"eps": 0.0}, "eps"),
        ({"iterations": 0}, "iterations"),
        ({"n_restarts": 0}, "n_restarts"),
        ({"n_target_classes": 1.5}, "n_target_classes"),
        ({"clip": (1.0, -1.0)}, "clip"),
    ],
)
def test_bad_settings_are_refused(kwargs, mentions):
    cells, labels, model = toy_problem()
    with pytest.raises(ScrobinError, match=mentions):
        apgd(model, cells[:4], labels[:4], **{"eps": 0.1, **kwargs})


def test_dlr_needs_three_classes():
    two_classes = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(ScrobinError, match="use loss ce"):
        apgd(two_classes, np.zeros((2, 3), np.float32), np.zeros(2, np.int64), 0.1, loss="dlr")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU visible")
def test_cuda_attack_runs_on_the_models_device():
    cells, labels, model = toy_problem()
    on_gpu = apgd(model.cuda(), cells, labels, PARTIAL_EPS, iterations=20, seed=0)
    on_cpu = apgd(model.cpu(), cells, labels, PARTIAL_EPS, iterations=20, seed=0)
    # Same starts (drawn on the CPU); float rounding may flip a few borderline cells.
    assert abs(accuracy(model, on_gpu, labels) - accuracy(model, on_cpu, labels)) <= 0.02
