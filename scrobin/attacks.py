"""Adversarial examples against a cell-type classifier: native batched FGSM/PGD and any ART attack.

The native attacks exist because ART crafts one mini-batch of 32 cells at a time through numpy
round-trips, which makes attacking inside every training step (adversarial training) and eps sweeps
slow. They follow ART's conventions exactly, so that without a random start they produce the same
adversarial examples as ``FastGradientMethod`` / ``ProjectedGradientDescent`` on a
``PyTorchClassifier`` (the test suite checks this):

- the loss is cross-entropy on the logits of the *true* labels (untargeted attack);
- an L-inf step moves each gene by ``step_size * sign(gradient)``; an L2 step moves each cell by
  ``step_size * gradient / ||gradient||_2`` (a zero gradient gives a zero step);
- after every step the input is clipped (only when ``clip`` is given; scaled expression is
  unbounded) and the perturbation is projected back onto the eps ball (L-inf: clamp to
  ``[-eps, eps]``; L2: rescale to norm ``eps`` when longer);
- FGSM is one such step of size ``eps`` (ART ignores ``eps_step`` when ``minimal=False``);
- a random start draws a point uniformly from the eps ball. ART draws it from numpy's global
  generator and scrobin from a seeded torch generator, so with a random start the two agree in
  distribution, not draw for draw.

ART has no relative step-size default (its ``eps_step`` is a fixed 0.1); scrobin's PGD uses
``step_size = eps / 4`` when none is given, so a sweep over eps keeps the step in proportion and 10
iterations can cross the ball twice.

Attacks run the model in eval mode (no dropout noise in the gradient, as in ART) and restore the
caller's mode afterwards, so adversarial training can call them from inside its training loop.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from scrobin.errors import ScrobinError
from scrobin.runtime import resolve_device

NATIVE_ATTACKS = ("fgsm", "pgd")
NATIVE_NORMS = ("inf", "2")
BACKENDS = ("native", "art")
SPEC_KEYS = ("name", "backend", "params", "label")
_NATIVE_PARAMS = {
    "fgsm": ("eps", "norm", "random_start", "seed", "batch_size", "clip"),
    "pgd": ("eps", "norm", "step_size", "iterations", "random_start", "seed", "batch_size", "clip"),
}
# Parameters scrobin itself consumes for ART attacks: ``clip`` becomes the estimator's
# ``clip_values`` and ``seed`` seeds numpy's global generator, ART's only source of randomness.
_ART_SCROBIN_PARAMS = ("clip", "seed")
_NATIVE_TO_ART = {"fgsm": "FastGradientMethod", "pgd": "ProjectedGradientDescent"}


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode and give back the mode (and device) it had before.

    Dropout must be off while crafting, or the gradient is that of a random sub-network; ART's
    estimators also switch modes (and may move the model) without restoring them.
    """
    was_training = model.training
    device = model_device(model)
    model.eval()
    try:
        yield model
    finally:
        model.to(device)
        model.train(was_training)


def model_device(model: nn.Module) -> torch.device:
    """The device holding the model's parameters (CPU for a parameter-free module)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def fgsm(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    eps: float,
    norm: str = "inf",
    random_start: bool = False,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = 1024,
    clip: Sequence[float] | None = None,
) -> np.ndarray | torch.Tensor:
    """Fast gradient (sign) method: one step of size ``eps`` up the loss gradient.

    Equivalent to :func:`pgd` with ``iterations=1`` and ``step_size=eps``, which is how ART's
    ``FastGradientMethod`` computes it; see :func:`pgd` for the parameters.
    """
    return pgd(
        model, x, y, eps, step_size=eps, iterations=1, norm=norm, random_start=random_start,
        seed=seed, generator=generator, batch_size=batch_size, clip=clip,
    )


def pgd(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    eps: float,
    step_size: float | None = None,
    iterations: int = 10,
    norm: str = "inf",
    random_start: bool = False,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = 1024,
    clip: Sequence[float] | None = None,
) -> np.ndarray | torch.Tensor:
    """Projected gradient descent (Madry et al.), untargeted, batched over cells.

    Parameters
    ----------
    model
        Module mapping float32 cells x genes to class logits; it stays on its device.
    x
        Model input, cells x genes (numpy array or tensor on any device).
    y
        True class index per cell.
    eps
        Radius of the perturbation ball in scaled-expression units.
    step_size
        Size of each step; ``None`` uses ``eps / 4`` (ART's ``eps_step``, which has no relative default).
    iterations
        Number of gradient steps (ART's ``max_iter``).
    norm
        ``"inf"`` (sign steps, box projection) or ``"2"`` (normalised steps, ball projection);
        ``2`` and ``np.inf`` are accepted too.
    random_start
        Start from a uniform draw in the eps ball instead of the clean cell (ART's ``num_random_init=1``).
    seed, generator
        Randomness of the start: a given ``generator`` is used (and advanced, so repeated calls in a
        training loop draw fresh starts; it must be a CPU generator); otherwise one seeded with
        ``seed`` (0 if ``None``). Draws happen on the CPU so results do not depend on the device.
    batch_size
        Cells crafted at once; without a random start results do not depend on it (the loss is
        summed per cell, so a cell's gradient ignores its batch mates).
    clip
        Optional ``(min, max)`` bounds of valid inputs; ``None`` leaves values unbounded.

    Returns
    -------
    Adversarial cells of the same kind as ``x`` (numpy float32, or a float32 tensor on ``x``'s device).
    """
    norm = canonical_norm(norm)
    _check_native_params(
        {"eps": eps, "norm": norm, "step_size": step_size, "iterations": iterations,
         "random_start": random_start, "seed": seed, "batch_size": batch_size, "clip": clip}
    )
    step = eps / 4 if step_size is None else float(step_size)
    device = model_device(model)
    inputs, labels = _as_tensors(x, y, device)
    if random_start and generator is None:
        generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
    crafted = []
    with eval_mode(model):
        for start in range(0, len(inputs), batch_size):
            clean = inputs[start:start + batch_size]
            noise = _uniform_in_ball(clean.shape, eps, norm, generator) if random_start else None
            crafted.append(
                _craft(model, clean, labels[start:start + batch_size], eps, step, iterations, norm, noise, clip)
            )
    adversarial = torch.cat(crafted) if crafted else inputs.clone()
    if isinstance(x, torch.Tensor):
        return adversarial.to(x.device)
    return adversarial.cpu().numpy()


def _craft(
    model: nn.Module,
    clean: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    step: float,
    iterations: int,
    norm: str,
    noise: torch.Tensor | None,
    clip: Sequence[float] | None,
) -> torch.Tensor:
    """All PGD iterations for one batch, in ART's order: step, clip, project."""
    adversarial = clean.clone() if noise is None else _clip(clean + noise.to(clean.device), clip)
    for _ in range(iterations):
        adversarial.requires_grad_(True)
        # Summed loss keeps each cell's gradient independent of the batch; autograd.grad w.r.t. the
        # input alone leaves the parameters' .grad untouched for the caller's optimiser.
        loss = F.cross_entropy(model(adversarial), labels, reduction="sum")
        (gradient,) = torch.autograd.grad(loss, adversarial)
        adversarial = _clip(adversarial.detach() + step * _ascent_direction(gradient, norm), clip)
        adversarial = clean + _project(adversarial - clean, eps, norm)
    return adversarial.detach()


def _ascent_direction(gradient: torch.Tensor, norm: str) -> torch.Tensor:
    """Unit-norm direction maximising the linearised loss: gradient sign (L-inf) or direction (L2)."""
    if norm == "inf":
        return gradient.sign()
    length = gradient.norm(dim=1, keepdim=True)
    return gradient / torch.where(length > 0, length, torch.inf)


def _project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Nearest point of the eps ball (exact for L-inf and L2)."""
    if norm == "inf":
        return delta.clamp(-eps, eps)
    length = delta.norm(dim=1, keepdim=True)
    return delta * torch.where(length > eps, eps / length, torch.ones_like(length))


def _clip(x: torch.Tensor, clip: Sequence[float] | None) -> torch.Tensor:
    return x if clip is None else x.clamp(float(clip[0]), float(clip[1]))


def _uniform_in_ball(shape: torch.Size, eps: float, norm: str, generator: torch.Generator) -> torch.Tensor:
    """Points drawn uniformly from the eps ball, one per cell, on the CPU."""
    if norm == "inf":
        return (torch.rand(shape, generator=generator) * 2 - 1) * eps
    direction = torch.randn(shape, generator=generator)
    direction = direction / direction.norm(dim=1, keepdim=True)
    radius = eps * torch.rand((shape[0], 1), generator=generator) ** (1.0 / shape[1])
    return direction * radius


def dense_cells(x: Any) -> np.ndarray | torch.Tensor:
    """The model input as a dense float32 array (a tensor passes through unchanged).

    ``AnnData.X`` may be a sparse matrix; attacks make every entry non-zero, so cells are
    densified once at the boundary.
    """
    if isinstance(x, torch.Tensor):
        return x
    return np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float32)


def _as_tensors(
    x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check cells x genes input and integer labels, and move both to the model's device."""
    inputs = dense_cells(x)
    inputs = inputs.detach() if isinstance(inputs, torch.Tensor) else torch.from_numpy(inputs)
    labels = y.detach() if isinstance(y, torch.Tensor) else torch.from_numpy(np.asarray(y))
    if inputs.ndim != 2:
        raise ScrobinError(f"attack input has shape {tuple(inputs.shape)}: pass a cells x genes matrix")
    if labels.shape != (inputs.shape[0],):
        raise ScrobinError(
            f"attack labels have shape {tuple(labels.shape)} for {inputs.shape[0]} cells: pass one class index per cell"
        )
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or (len(labels) and labels.min() < 0):
        raise ScrobinError("attack labels must be non-negative integer class indices: encode cell types as 0..K-1")
    return inputs.to(device=device, dtype=torch.float32), labels.to(device=device, dtype=torch.long)


def _check_native_params(params: Mapping[str, Any]) -> None:
    """Refuse bad native attack settings with one line each; absent keys take their defaults."""
    if "eps" in params:
        _check_eps(params["eps"])
    norm = params.get("norm", "inf")
    if norm not in NATIVE_NORMS:
        raise ScrobinError(f"attack norm {norm!r} is unknown: use one of {', '.join(NATIVE_NORMS)}")
    step_size = params.get("step_size")
    if step_size is not None and not (_is_number(step_size) and 0 < step_size < math.inf):
        raise ScrobinError(f"attack step_size {step_size!r} is invalid: use a positive number or null (eps / 4)")
    for key in ("iterations", "batch_size"):
        if key in params and not (_is_int(params[key]) and params[key] >= 1):
            raise ScrobinError(f"attack {key} {params[key]!r} is invalid: use an integer >= 1")
    if not isinstance(params.get("random_start", False), bool):
        raise ScrobinError(f"attack random_start {params['random_start']!r} is invalid: use true or false")
    _check_seed(params.get("seed"))
    _check_clip(params.get("clip"))


def _check_eps(eps: Any) -> None:
    if not (_is_number(eps) and 0 < eps < math.inf):
        raise ScrobinError(f"attack eps {eps!r} is invalid: use a positive finite number")


def _check_seed(seed: Any) -> None:
    if seed is not None and not _is_int(seed):
        raise ScrobinError(f"attack seed {seed!r} is invalid: use an integer or null")


def _check_clip(clip: Any) -> None:
    if clip is None:
        return
    if not (
        isinstance(clip, Sequence) and len(clip) == 2 and all(_is_number(v) for v in clip) and clip[0] < clip[1]
    ):
        raise ScrobinError(f"attack clip {clip!r} is invalid: use [min, max] with min < max, or null")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def canonical_norm(norm: Any) -> str:
    """Spell a norm the way tables and configs do: ``"inf"`` or the number (``"2"``, ``"1.5"``).

    JSON configs cannot hold infinity and YAML reads ``2`` as an integer, so ``inf``/``np.inf`` and
    ``2``/``"2"`` must mean the same thing.
    """
    if isinstance(norm, str) and norm.strip().lower() in ("inf", "np.inf", "linf"):
        return "inf"
    try:
        value = float(norm)
    except (TypeError, ValueError):
        raise ScrobinError(f"attack norm {norm!r} is unknown: use inf, 2 or another p >= 1") from None
    if value == math.inf:
        return "inf"
    return str(int(value)) if value.is_integer() else str(value)


def validate_attack_spec(spec: Mapping[str, Any], estimator: str = "torch") -> dict[str, Any]:
    """Check an attack spec before anything runs and return it normalised.

    A spec is ``{"name": ..., "backend": "native" | "art", "params": {...}, "label": ...}``.
    ``native`` names are ``fgsm`` and ``pgd`` with the parameters of :func:`pgd`; ``art`` names are
    ART evasion attack classes (``ProjectedGradientDescent``, ``CarliniLInfMethod``, ``DeepFool``, ...)
    whose keyword arguments go in ``params`` (plus scrobin's ``clip`` and ``seed``). ART attacks are
    instantiated once against a tiny stand-in estimator of the given kind (``"torch"`` for
    ``PyTorchClassifier``, ``"sklearn"`` for the logistic baseline), so ART's own parameter checks
    and estimator requirements refuse a bad spec here rather than hours into a run.

    Returns
    -------
    A new dict with all four keys: backend defaulted to native, ``params`` copied with ``norm``
    canonical (see :func:`canonical_norm`), and ``label`` defaulted to ``<name>_l<norm>`` (native
    attacks default to ``inf``; ART attacks without a ``norm`` param are labelled by name).
    """
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise ScrobinError(f"attack spec {spec!r} has no name: write {{name: pgd, params: {{...}}}}")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise ScrobinError(f"attack spec keys {unknown} are unknown: use {', '.join(SPEC_KEYS)}")
    name = spec["name"]
    backend = spec.get("backend", "native")
    if backend not in BACKENDS:
        raise ScrobinError(f"attack backend {backend!r} is unknown: use one of {', '.join(BACKENDS)}")
    params = spec.get("params") or {}
    if not isinstance(params, Mapping):
        raise ScrobinError(f"params of attack {name!r} must be a mapping of parameter -> value")
    params = dict(params)
    if "norm" in params:
        params["norm"] = canonical_norm(params["norm"])
    if backend == "native":
        _validate_native(name, params)
    else:
        _validate_art(name, params, estimator)
    norm = params.get("norm", "inf" if backend == "native" else None)
    label = spec.get("label") or (str(name) if norm is None else f"{name}_l{norm}")
    return {"name": name, "backend": backend, "params": params, "label": str(label)}


def _validate_native(name: Any, params: dict[str, Any]) -> None:
    if name not in NATIVE_ATTACKS:
        raise ScrobinError(
            f"native attack {name!r} is unknown: use one of {', '.join(NATIVE_ATTACKS)}, or backend art for ART classes"
        )
    unknown = sorted(set(params) - set(_NATIVE_PARAMS[name]))
    if unknown:
        raise ScrobinError(f"attack {name} does not take {unknown}: use {', '.join(_NATIVE_PARAMS[name])}")
    _check_native_params(params)


def art_attack_class(name: Any) -> type:
    """The ART evasion attack class called ``name``, or a one-line error."""
    import art.attacks.evasion as evasion
    from art.attacks.attack import EvasionAttack

    attack_class = getattr(evasion, name, None) if isinstance(name, str) else None
    if not (isinstance(attack_class, type) and issubclass(attack_class, EvasionAttack)):
        raise ScrobinError(
            f"ART attack {name!r} is not an evasion attack class in art.attacks.evasion: "
            "use e.g. FastGradientMethod, ProjectedGradientDescent, CarliniLInfMethod, DeepFool"
        )
    return attack_class


def _validate_art(name: Any, params: dict[str, Any], estimator: str) -> None:
    attack_class = art_attack_class(name)
    signature = inspect.signature(attack_class.__init__)
    accepted = [p for p in list(signature.parameters)[2:] if p not in ("args", "kwargs")]
    unknown = sorted(set(params) - set(accepted) - set(_ART_SCROBIN_PARAMS))
    if unknown:
        valid = ", ".join(accepted + list(_ART_SCROBIN_PARAMS))
        raise ScrobinError(f"ART attack {name} does not take {unknown}: use {valid}")
    if "eps" in params and _is_number(params["eps"]):
        _check_eps(params["eps"])
    _check_clip(params.get("clip"))
    _check_seed(params.get("seed"))
    try:
        _instantiate_art(attack_class, _stand_in_estimator(estimator, params.get("clip")), params)
    except ScrobinError:
        raise
    except Exception as error:  # ART raises ValueError, TypeError or its own EstimatorError here.
        message = " ".join(str(error).split())
        raise ScrobinError(f"ART attack {name} refuses its params ({message}): fix params") from None


def _stand_in_estimator(kind: str, clip: Sequence[float] | None) -> Any:
    """A tiny fitted estimator of the kind that will be attacked, for ART's construction checks."""
    if kind == "torch":
        return art_classifier(nn.Linear(2, 3), n_genes=2, n_classes=3, clip=clip)
    if kind == "sklearn":
        from art.estimators.classification.scikitlearn import ScikitlearnLogisticRegression
        from sklearn.linear_model import LogisticRegression

        toy = LogisticRegression().fit(np.eye(3, 2, dtype=np.float32), np.arange(3))
        return ScikitlearnLogisticRegression(toy, clip_values=None if clip is None else tuple(clip))
    raise ScrobinError(f"estimator kind {kind!r} is unknown: use torch or sklearn")


def art_classifier(model: nn.Module, n_genes: int, n_classes: int, clip: Sequence[float] | None = None) -> Any:
    """Wrap a logits module in ART's ``PyTorchClassifier`` the way ART's FGSM/PGD expect.

    The model has no softmax, so ``CrossEntropyLoss`` on its output is the loss whose gradient
    the attacks follow, the same loss as the native attacks.
    """
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(
        model=model,
        loss=nn.CrossEntropyLoss(),
        input_shape=(n_genes,),
        nb_classes=n_classes,
        clip_values=None if clip is None else (float(clip[0]), float(clip[1])),
        device_type="gpu" if model_device(model).type == "cuda" else "cpu",
    )


def _instantiate_art(attack_class: type, estimator: Any, params: Mapping[str, Any]) -> Any:
    """Build the ART attack with ART's own names and types (norm as a number, floats as floats)."""
    kwargs = {k: v for k, v in params.items() if k not in _ART_SCROBIN_PARAMS}
    if "norm" in kwargs:
        kwargs["norm"] = np.inf if kwargs["norm"] == "inf" else _number(kwargs["norm"])
    # ART insists eps and eps_step have the same type, so YAML's 1 next to 0.25 must become 1.0.
    for key in ("eps", "eps_step"):
        if _is_number(kwargs.get(key)):
            kwargs[key] = float(kwargs[key])
    accepted = inspect.signature(attack_class.__init__).parameters
    if "verbose" in accepted and "verbose" not in kwargs:
        kwargs["verbose"] = False
    return attack_class(estimator, **kwargs)


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def to_art_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Translate a validated native fgsm/pgd spec into the equivalent ART spec.

    Used to attack models ART can wrap but scrobin's native code cannot (the sklearn baseline) with
    the *same* settings, and by the tests that check the native attacks reproduce ART.
    """
    if spec["backend"] == "art":
        return dict(spec)
    params = spec["params"]
    eps = float(params["eps"])
    art_params: dict[str, Any] = {
        "eps": eps,
        "norm": params.get("norm", "inf"),
        "num_random_init": int(params.get("random_start", False)),
        "batch_size": params.get("batch_size", 1024),
    }
    if spec["name"] == "fgsm":
        art_params["eps_step"] = eps
    else:
        step = params.get("step_size")
        art_params["eps_step"] = eps / 4 if step is None else float(step)
        art_params["max_iter"] = params.get("iterations", 10)
    art_params.update({k: params[k] for k in _ART_SCROBIN_PARAMS if params.get(k) is not None})
    return {"name": _NATIVE_TO_ART[spec["name"]], "backend": "art", "params": art_params, "label": spec["label"]}


def run_art_attack(estimator: Any, x: np.ndarray, y: np.ndarray, name: str, params: Mapping[str, Any]) -> np.ndarray:
    """Craft adversarial cells with the ART attack ``name`` against an already wrapped ART estimator.

    ``params["seed"]`` seeds numpy's global generator first: ART draws random starts from it.
    """
    if params.get("seed") is not None:
        np.random.seed(int(params["seed"]) % 2**32)
    attack = _instantiate_art(art_attack_class(name), estimator, params)
    return attack.generate(x=np.ascontiguousarray(x, dtype=np.float32), y=np.asarray(y)).astype(np.float32)


def run_attack(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    name: str,
    params: Mapping[str, Any],
    backend: str = "native",
    device: str | torch.device | None = None,
) -> np.ndarray | torch.Tensor:
    """Craft untargeted adversarial cells with one named attack; the single entry point for specs.

    Parameters
    ----------
    model
        Logits module to attack (white-box: always attack the model that is evaluated).
    x, y
        Cells x genes input and true class indices.
    name, params, backend
        As in :func:`validate_attack_spec`; validated here before any work.
    device
        ``"auto"``, ``"cpu"``, ``"cuda"`` or a torch device to move the model to (in place) first;
        ``None`` keeps the model where it is.

    Returns
    -------
    Adversarial cells of the same kind as ``x``.
    """
    spec = validate_attack_spec({"name": name, "backend": backend, "params": params})
    params = spec["params"]
    if device is not None:
        model.to(device if isinstance(device, torch.device) else resolve_device(device))
    if backend == "native":
        if "eps" not in params:
            raise ScrobinError(f"attack {name} has no eps: add params.eps")
        attack = fgsm if name == "fgsm" else pgd
        return attack(model, x, y, **params)
    inputs, labels = _as_tensors(x, y, torch.device("cpu"))
    with eval_mode(model), torch.no_grad():
        n_classes = model(inputs[:1].to(model_device(model))).shape[1]
    with eval_mode(model):
        estimator = art_classifier(model, inputs.shape[1], n_classes, params.get("clip"))
        adversarial = run_art_attack(estimator, inputs.numpy(), labels.numpy(), name, params)
    if isinstance(x, torch.Tensor):
        return torch.from_numpy(adversarial).to(x.device)
    return adversarial
