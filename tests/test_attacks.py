"""Native FGSM/PGD: they fool a trained model, respect eps, reproduce ART, and refuse bad specs."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scrobin.attacks.specs import to_art_spec, validate_attack_spec
from scrobin.attacks.gradient import fgsm, pgd
from scrobin.attacks.run import run_attack
from scrobin.errors import ScrobinError
from scrobin.model.network import MLPClassifier

N_CELLS, N_GENES, N_TYPES = 400, 50, 4
# eps per norm at which attacks succeed on part of the cells, so ART agreement is tested on a mix of
# fooled and unfooled cells rather than on all-or-nothing outcomes.
PARTIAL_EPS = {"inf": 0.6, "2": 4.0}


@lru_cache(maxsize=1)
def _toy_data_and_weights() -> tuple[np.ndarray, np.ndarray, dict[str, torch.Tensor]]:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(N_TYPES, N_GENES))
    labels = rng.integers(0, N_TYPES, N_CELLS)
    cells = (centres[labels] + rng.normal(size=(N_CELLS, N_GENES))).astype(np.float32)
    torch.manual_seed(0)
    model = _toy_model()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    inputs, targets = torch.from_numpy(cells), torch.from_numpy(labels)
    for _ in range(30):
        optimiser.zero_grad()
        F.cross_entropy(model(inputs), targets).backward()
        optimiser.step()
    return cells, labels, {k: v.clone() for k, v in model.state_dict().items()}


def _toy_model() -> MLPClassifier:
    # Dropout is kept so that attacking in train mode would give different (noisy) gradients.
    return MLPClassifier(N_GENES, N_TYPES, hidden_sizes=(32, 16), dropout_after={0: 0.3})


def toy_problem() -> tuple[np.ndarray, np.ndarray, MLPClassifier]:
    """Separable 4-type data (400 cells x 50 genes) and a fresh copy of an MLP trained on it, in eval mode."""
    cells, labels, weights = _toy_data_and_weights()
    model = _toy_model()
    model.load_state_dict(weights)
    return cells.copy(), labels.copy(), model.eval()


def accuracy(model: MLPClassifier, cells: np.ndarray, labels: np.ndarray) -> float:
    with torch.no_grad():
        return float((model(torch.as_tensor(cells)).argmax(dim=1).numpy() == labels).mean())


def test_attacks_fool_the_trained_model_and_pgd_more_than_fgsm():
    cells, labels, model = toy_problem()
    clean = accuracy(model, cells, labels)
    after_fgsm = accuracy(model, fgsm(model, cells, labels, eps=1.0), labels)
    after_pgd = accuracy(model, pgd(model, cells, labels, eps=1.0, iterations=10), labels)
    assert clean >= 0.95
    assert after_fgsm < clean - 0.5
    assert after_pgd < after_fgsm
    assert after_pgd < 0.15


@pytest.mark.parametrize("norm", ["inf", "2"])
@pytest.mark.parametrize("name", ["fgsm", "pgd"])
def test_native_attacks_reproduce_art(name, norm):
    cells, labels, model = toy_problem()
    spec = validate_attack_spec({"name": name, "params": {"eps": PARTIAL_EPS[norm], "norm": norm, "iterations": 5}
                                 if name == "pgd" else {"eps": PARTIAL_EPS[norm], "norm": norm}})
    native = run_attack(model, cells, labels, name, spec["params"])
    art_spec = to_art_spec(spec)
    through_art = run_attack(model, cells, labels, art_spec["name"], art_spec["params"], backend="art")
    native_accuracy = accuracy(model, native, labels)
    assert 0.05 < native_accuracy < 0.95
    np.testing.assert_allclose(native, through_art, atol=1e-5)
    assert native_accuracy == accuracy(model, through_art, labels)


@pytest.mark.parametrize("random_start", [False, True])
@pytest.mark.parametrize("norm", ["inf", "2"])
def test_perturbation_stays_in_the_eps_ball(norm, random_start):
    cells, labels, model = toy_problem()
    eps = PARTIAL_EPS[norm]
    delta = pgd(model, cells, labels, eps=eps, norm=norm, random_start=random_start, seed=3) - cells
    size = np.abs(delta).max(axis=1) if norm == "inf" else np.linalg.norm(delta, axis=1)
    assert size.max() <= eps * (1 + 1e-5)
    # PGD with 10 steps of eps/4 reaches the boundary of the ball for nearly every cell.
    assert np.median(size) > 0.99 * eps


def test_fgsm_linf_moves_every_gene_by_eps():
    cells, labels, model = toy_problem()
    delta = fgsm(model, cells, labels, eps=0.25) - cells
    np.testing.assert_allclose(np.abs(delta), 0.25, rtol=1e-5)


def test_random_start_is_deterministic_given_a_seed():
    cells, labels, model = toy_problem()
    first = pgd(model, cells, labels, eps=0.5, random_start=True, seed=7)
    again = pgd(model, cells, labels, eps=0.5, random_start=True, seed=7)
    other = pgd(model, cells, labels, eps=0.5, random_start=True, seed=8)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 0.1
    generator = torch.Generator().manual_seed(7)
    from_generator = pgd(model, cells, labels, eps=0.5, random_start=True, generator=generator)
    next_draw = pgd(model, cells, labels, eps=0.5, random_start=True, generator=generator)
    np.testing.assert_array_equal(first, from_generator)
    assert np.abs(next_draw - from_generator).max() > 0.1


def test_attack_runs_in_eval_mode_and_restores_train_mode():
    cells, labels, model = toy_problem()
    in_eval = pgd(model, cells, labels, eps=0.6, iterations=3)
    model.train()
    in_train = pgd(model, cells, labels, eps=0.6, iterations=3)
    assert model.training
    np.testing.assert_array_equal(in_eval, in_train)
    through_art = run_attack(model, cells[:100], labels[:100], "DeepFool", {"max_iter": 5}, backend="art")
    assert model.training
    assert accuracy(model.eval(), through_art, labels[:100]) < 0.5


def test_attack_leaves_parameter_gradients_alone():
    cells, labels, model = toy_problem()
    pgd(model, cells, labels, eps=0.5, iterations=2)
    assert all(parameter.grad is None for parameter in model.parameters())


def test_results_do_not_depend_on_batch_size():
    cells, labels, model = toy_problem()
    whole = pgd(model, cells, labels, eps=0.5, norm="2", iterations=4)
    in_pieces = pgd(model, cells, labels, eps=0.5, norm="2", iterations=4, batch_size=37)
    np.testing.assert_allclose(whole, in_pieces, atol=1e-6)


def test_tensor_in_tensor_out_and_numpy_in_numpy_out():
    cells, labels, model = toy_problem()
    from_tensor = fgsm(model, torch.from_numpy(cells), torch.from_numpy(labels), eps=0.3)
    from_numpy = fgsm(model, cells, labels, eps=0.3)
    assert isinstance(from_tensor, torch.Tensor) and from_tensor.dtype == torch.float32
    assert isinstance(from_numpy, np.ndarray) and from_numpy.dtype == np.float32
    np.testing.assert_array_equal(from_tensor.numpy(), from_numpy)


def test_clip_bounds_the_adversarial_cells():
    cells, labels, model = toy_problem()
    adversarial = pgd(model, np.clip(cells, -1, 1), labels, eps=0.5, clip=(-1.0, 1.0))
    assert adversarial.min() >= -1.0 and adversarial.max() <= 1.0
    assert adversarial.min() == -1.0 and adversarial.max() == 1.0


def test_validation_normalises_the_spec():
    spec = validate_attack_spec({"name": "pgd", "params": {"eps": 1, "norm": 2}})
    assert spec == {"name": "pgd", "backend": "native", "params": {"eps": 1, "norm": "2"}, "label": "pgd_l2"}
    art = validate_attack_spec({"name": "CarliniLInfMethod", "backend": "art", "params": {"max_iter": 3}})
    assert art["label"] == "CarliniLInfMethod"


@pytest.mark.parametrize(
    ("spec", "mentions"),
    [
        ({"name": "cw"}, "fgsm, pgd"),
        ({"name": "NoSuchAttack", "backend": "art"}, "art.attacks.evasion"),
        ({"name": "EvasionAttack", "backend": "art"}, "art.attacks.evasion"),
        ({"name": "pgd", "backend": "foolbox"}, "native, art"),
        ({"name": "pgd", "params": {"eps": -1}}, "eps"),
        ({"name": "pgd", "params": {"eps": 0}}, "eps"),
        ({"name": "pgd", "params": {"eps": float("nan")}}, "eps"),
        ({"name": "pgd", "params": {"eps": True}}, "eps"),
        ({"name": "fgsm", "params": {"eps": "1"}}, "eps"),
        ({"name": "pgd", "params": {"norm": "1"}}, "inf, 2"),
        ({"name": "pgd", "params": {"norm": "manhattan"}}, "norm"),
        ({"name": "fgsm", "params": {"iterations": 3}}, "does not take"),
        ({"name": "pgd", "params": {"iterations": 0}}, "iterations"),
        ({"name": "pgd", "params": {"step_size": -0.1}}, "step_size"),
        ({"name": "pgd", "params": {"clip": [1, 0]}}, "clip"),
        ({"name": "pgd", "params": {"random_start": "yes"}}, "random_start"),
        ({"name": "pgd", "eps": 1}, "keys"),
        ({"name": "ProjectedGradientDescent", "backend": "art", "params": {"eps_step": -1.0}}, "refuses"),
        ({"name": "ProjectedGradientDescent", "backend": "art", "params": {"epsilon": 1.0}}, "does not take"),
        ({"name": "DeepFool", "backend": "art", "params": {"eps": 1.0}}, "does not take"),
    ],
)
def test_bad_specs_are_refused_with_one_line(spec, mentions):
    with pytest.raises(ScrobinError) as error:
        validate_attack_spec(spec)
    assert mentions in str(error.value)
    assert "\n" not in str(error.value)


def test_bad_labels_are_refused():
    cells, labels, model = toy_problem()
    with pytest.raises(ScrobinError, match="one class index per cell"):
        fgsm(model, cells, labels[:-1], eps=0.1)
    with pytest.raises(ScrobinError, match="integer class indices"):
        fgsm(model, cells, labels.astype(np.float32), eps=0.1)
