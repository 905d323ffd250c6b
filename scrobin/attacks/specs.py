"""Attack specs from the config: checked and normalised without importing torch.

The workflow validates every attack spec (the robustness sweep, the eps-structure check, the
adversarial training attack) while Snakemake builds the DAG, before any job; keeping the checks
here, apart from the attack code (``scrobin.attacks.gradient``, ``scrobin.attacks.run``), means
that validation costs no torch import. ART is imported only for specs whose backend is ``art``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any


from scrobin.attacks.art import ART_SCROBIN_PARAMS, art_attack_class, instantiate_art, stand_in_estimator
from scrobin.errors import ScrobinError
from scrobin.validators import is_integer, is_real

NATIVE_ATTACKS = ("fgsm", "pgd")
NATIVE_NORMS = ("inf", "2")
BACKENDS = ("native", "art")
SPEC_KEYS = ("name", "backend", "params", "label")
_NATIVE_PARAMS = {
    "fgsm": ("eps", "norm", "random_start", "seed", "batch_size", "clip"),
    "pgd": ("eps", "norm", "step_size", "iterations", "random_start", "seed", "batch_size", "clip"),
}
_NATIVE_TO_ART = {"fgsm": "FastGradientMethod", "pgd": "ProjectedGradientDescent"}


def check_native_params(params: Mapping[str, Any]) -> None:
    """Refuse bad native attack settings with one line each; absent keys take their defaults."""
    if "eps" in params:
        _check_eps(params["eps"])
    norm = params.get("norm", "inf")
    if norm not in NATIVE_NORMS:
        raise ScrobinError(f"attack norm {norm!r} is unknown: use one of {', '.join(NATIVE_NORMS)}")
    step_size = params.get("step_size")
    if step_size is not None and not (is_real(step_size) and 0 < step_size < math.inf):
        raise ScrobinError(f"attack step_size {step_size!r} is invalid: use a positive number or null (eps / 4)")
    for key in ("iterations", "batch_size"):
        if key in params and not (is_integer(params[key]) and params[key] >= 1):
            raise ScrobinError(f"attack {key} {params[key]!r} is invalid: use an integer >= 1")
    if not isinstance(params.get("random_start", False), bool):
        raise ScrobinError(f"attack random_start {params['random_start']!r} is invalid: use true or false")
    _check_seed(params.get("seed"))
    _check_clip(params.get("clip"))


def _check_eps(eps: Any) -> None:
    if not (is_real(eps) and 0 < eps < math.inf):
        raise ScrobinError(f"attack eps {eps!r} is invalid: use a positive finite number")


def _check_seed(seed: Any) -> None:
    if seed is not None and not is_integer(seed):
        raise ScrobinError(f"attack seed {seed!r} is invalid: use an integer or null")


def _check_clip(clip: Any) -> None:
    if clip is None:
        return
    if not (
        isinstance(clip, Sequence) and len(clip) == 2 and all(is_real(v) for v in clip) and clip[0] < clip[1]
    ):
        raise ScrobinError(f"attack clip {clip!r} is invalid: use [min, max] with min < max, or null")


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
    check_native_params(params)


def _validate_art(name: Any, params: dict[str, Any], estimator: str) -> None:
    attack_class = art_attack_class(name)
    signature = inspect.signature(attack_class.__init__)
    accepted = [p for p in list(signature.parameters)[2:] if p not in ("args", "kwargs")]
    unknown = sorted(set(params) - set(accepted) - set(ART_SCROBIN_PARAMS))
    if unknown:
        valid = ", ".join(accepted + list(ART_SCROBIN_PARAMS))
        raise ScrobinError(f"ART attack {name} does not take {unknown}: use {valid}")
    if "eps" in params and is_real(params["eps"]):
        _check_eps(params["eps"])
    _check_clip(params.get("clip"))
    _check_seed(params.get("seed"))
    try:
        instantiate_art(attack_class, stand_in_estimator(estimator, params.get("clip")), params)
    except ScrobinError:
        raise
    except Exception as error:  # ART raises ValueError, TypeError or its own EstimatorError here.
        message = " ".join(str(error).split())
        raise ScrobinError(f"ART attack {name} refuses its params ({message}): fix params") from None


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
    art_params.update({k: params[k] for k in ART_SCROBIN_PARAMS if params.get(k) is not None})
    return {"name": _NATIVE_TO_ART[spec["name"]], "backend": "art", "params": art_params, "label": spec["label"]}


def validate_sweep(
    attacks: Sequence[Mapping[str, Any]], eps_grid: Sequence[float], estimator: str = "torch"
) -> tuple[list[dict[str, Any]], list[float]]:
    """Check the attack specs and the eps grid of a sweep before any attack runs.

    Specs must leave ``eps`` out (the grid sets it) and ART attacks must take an ``eps``.
    Returns the normalised specs and the sorted, de-duplicated positive eps values (0 is
    always reported as the clean row, so it may appear in the grid or not).
    """
    if not attacks:
        raise ScrobinError("the robustness sweep has no attacks: list at least one attack spec")
    eps_values = validate_eps_grid(eps_grid)
    specs = []
    for spec in attacks:
        if isinstance(spec, Mapping) and "eps" in (spec.get("params") or {}):
            raise ScrobinError(
                f"attack {spec.get('name')!r} sets params.eps: remove it, the sweep takes eps from eps_grid"
            )
        checked = validate_attack_spec(spec, estimator=estimator)
        name = checked["name"]
        if checked["backend"] == "art" and "eps" not in inspect.signature(art_attack_class(name)).parameters:
            raise ScrobinError(f"ART attack {name} has no eps, so it cannot be swept: run it with run_attack")
        specs.append(checked)
    labels = [spec["label"] for spec in specs]
    if len(set(labels)) != len(labels):
        raise ScrobinError(f"attack labels {labels} repeat: give each attack spec a distinct label")
    return specs, eps_values


def validate_eps_grid(eps_grid: Sequence[float], name: str = "eps_grid") -> list[float]:
    """The sorted, de-duplicated positive values of a non-empty list of finite numbers >= 0.

    ``name`` is the config key the list came from, for the error message.
    """
    if isinstance(eps_grid, (str, bytes)) or not isinstance(eps_grid, Sequence) or not eps_grid:
        raise ScrobinError(f"{name} {eps_grid!r} is invalid: give a non-empty list of numbers >= 0")
    for eps in eps_grid:
        if not (is_real(eps) and 0 <= eps < math.inf):
            raise ScrobinError(f"{name} value {eps!r} is invalid: use finite numbers >= 0")
    return sorted({float(eps) for eps in eps_grid if eps > 0})
