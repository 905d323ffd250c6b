"""The Adversarial Robustness Toolbox behind scrobin's attack specs: its attack classes by name,
its estimators and one call that runs an attack.

Nothing here imports torch or ART before a function needs them, so the config's attack specs are
checked (``scrobin.attacks.specs``) without loading either unless a spec names an ART attack.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from scrobin.errors import ScrobinError
from scrobin.validators import is_real

# Parameters scrobin itself consumes for ART attacks: ``clip`` becomes the estimator's
# ``clip_values`` and ``seed`` seeds numpy's global generator, ART's only source of randomness.
ART_SCROBIN_PARAMS = ("clip", "seed")


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


def instantiate_art(attack_class: type, estimator: Any, params: Mapping[str, Any]) -> Any:
    """Build the ART attack with ART's own names and types (norm as a number, floats as floats)."""
    kwargs = {k: v for k, v in params.items() if k not in ART_SCROBIN_PARAMS}
    if "norm" in kwargs:
        kwargs["norm"] = np.inf if kwargs["norm"] == "inf" else _number(kwargs["norm"])
    # ART insists eps and eps_step have the same type, so YAML's 1 next to 0.25 must become 1.0.
    for key in ("eps", "eps_step"):
        if is_real(kwargs.get(key)):
            kwargs[key] = float(kwargs[key])
    accepted = inspect.signature(attack_class.__init__).parameters
    if "verbose" in accepted and "verbose" not in kwargs:
        kwargs["verbose"] = False
    return attack_class(estimator, **kwargs)


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def stand_in_estimator(kind: str, clip: Sequence[float] | None) -> Any:
    """A tiny fitted estimator of the kind that will be attacked, for ART's construction checks."""
    if kind == "torch":
        from torch import nn

        return art_classifier(nn.Linear(2, 3), n_genes=2, n_classes=3, clip=clip)
    if kind == "sklearn":
        from art.estimators.classification.scikitlearn import ScikitlearnLogisticRegression
        from sklearn.linear_model import LogisticRegression

        toy = LogisticRegression().fit(np.eye(3, 2, dtype=np.float32), np.arange(3))
        return ScikitlearnLogisticRegression(toy, clip_values=None if clip is None else tuple(clip))
    raise ScrobinError(f"estimator kind {kind!r} is unknown: use torch or sklearn")


def art_classifier(model, n_genes: int, n_classes: int, clip: Sequence[float] | None = None) -> Any:
    """Wrap a logits module in ART's ``PyTorchClassifier`` the way ART's FGSM/PGD expect.

    The model has no softmax, so ``CrossEntropyLoss`` on its output is the loss whose gradient
    the attacks follow, the same loss as the native attacks.
    """
    from art.estimators.classification import PyTorchClassifier
    from torch import nn

    from scrobin.inference import model_device

    return PyTorchClassifier(
        model=model,
        loss=nn.CrossEntropyLoss(),
        input_shape=(n_genes,),
        nb_classes=n_classes,
        clip_values=None if clip is None else (float(clip[0]), float(clip[1])),
        device_type="gpu" if model_device(model).type == "cuda" else "cpu",
    )


def run_art_attack(estimator: Any, x: np.ndarray, y: np.ndarray, name: str, params: Mapping[str, Any]) -> np.ndarray:
    """Craft adversarial cells with the ART attack ``name`` against an already wrapped ART estimator.

    ``params["seed"]`` seeds numpy's global generator first: ART draws random starts from it.
    """
    if params.get("seed") is not None:
        np.random.seed(int(params["seed"]) % 2**32)
    # ART 1.20's FastGradientMethod logs "Success rate of FGM attack: 0.00%" whatever the attack
    # did (its best rate starts at 0 and is updated only with num_random_init > 1); a job's log
    # must not say an attack that took accuracy to 0 failed. Its warnings still show.
    logging.getLogger("art.attacks.evasion.fast_gradient").setLevel(logging.WARNING)
    attack = instantiate_art(art_attack_class(name), estimator, params)
    return attack.generate(x=np.ascontiguousarray(x, dtype=np.float32), y=np.asarray(y)).astype(np.float32)
