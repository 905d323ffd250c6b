"""Fitting the standard and adversarially trained classifiers from a prepared dataset.

The three regimes share one code path: same architecture, same seed (hence the same initial
weights), same epoch budget and early-stopping rule. Only the batch loss differs: the adversarial
regimes add cells crafted against the current weights (Madry-style) or, in ``one_shot`` mode, the
paper's augmentation with cells crafted once against the finished standard model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import anndata as ad
import numpy as np
import pandas as pd
import torch

from scrobin.contract import SCROBIN_KEY
from scrobin.cells import class_names
from scrobin.metrics import classification_metrics
from scrobin.model.check import check_model
from scrobin.model.presets import resolve_model_config
from scrobin.model.network import MLPClassifier
from scrobin.runtime import seed_everything
from scrobin.inference import predict_logits
from scrobin.model.training import TrainingSettings, train_classifier
from scrobin.data.model_input import split_cells

REGIMES = ("standard", "fgsm", "pgd", "ibp")


def build_network(n_genes: int, n_classes: int, model_config: Mapping, seed: int, device) -> MLPClassifier:
    """The configured MLP with initial weights fixed by ``seed`` (shared by all regimes)."""
    seed_everything(seed)
    dropout = {i: rate for i, rate in enumerate(model_config["dropout"]) if rate > 0}
    return MLPClassifier(n_genes, n_classes, model_config["hidden_sizes"], dropout).to(device)


def native_attack_params(attack: str, attack_config: Mapping, seed: int) -> dict:
    """Keyword arguments of the native ``fgsm`` / ``pgd`` from the ``attack`` config section."""
    params = {"eps": attack_config["eps"], "norm": attack_config["norm"], "batch_size": attack_config["batch_size"]}
    if attack == "pgd":
        params.update(
            iterations=attack_config["pgd_iterations"],
            step_size=attack_config["pgd_step_size"],
            random_start=attack_config["pgd_random_start"],
            seed=seed,
        )
    return params


def make_adversary(regime: str, attack_config: Mapping, seed: int) -> Callable:
    """``adversary(model, x, y) -> x_adv`` for the regime.

    One random-start generator serves the whole training run, so every batch draws fresh starts
    while the run as a whole repeats exactly given the seed.
    """
    from scrobin.attacks.gradient import fgsm, pgd

    params = native_attack_params(regime, attack_config, seed)
    if regime == "fgsm":
        return lambda model, x, y: fgsm(model, x, y, **params)
    params.pop("seed")
    generator = torch.Generator().manual_seed(seed)
    return lambda model, x, y: pgd(model, x, y, generator=generator, **params)


def ibp_loss(adversarial_training: Mapping, attack_config: Mapping):
    """The ``ibp`` regime's loss: interval bound propagation training (Gowal et al. 2018) at
    ``ibp_eps_factor`` times the attack budget, its eps and clean weight ramped as configured."""
    from scrobin.model.certified_training import IBPLoss

    return IBPLoss(
        eps=adversarial_training["ibp_eps_factor"] * float(attack_config["eps"]),
        ramp_epochs=adversarial_training["ibp_ramp_epochs"],
        warmup_epochs=adversarial_training["ibp_warmup_epochs"],
        kappa_final=adversarial_training["ibp_kappa"],
    )


def one_shot_augmentation(standard: torch.nn.Module, x, y: np.ndarray, regime: str, attack_config: Mapping, seed: int):
    """The paper's augmentation: attack the trained standard model once and append the cells."""
    from scrobin.attacks.run import run_attack

    cells = np.asarray(x)  # the model input of the training cells (a ModelInput reads them all)
    adversarial = run_attack(standard, cells, y, regime, native_attack_params(regime, attack_config, seed))
    return np.concatenate([cells, adversarial]).astype(np.float32), np.concatenate([y, y])


class FittedClassifier(NamedTuple):
    """What :func:`fit_classifier` returns: the model and what training learnt about it."""

    model: MLPClassifier
    """The trained network (the best validation epoch's weights), in eval mode."""
    metadata: dict
    """Everything the model file stores beside the weights (:func:`scrobin.model.store.save_model`),
    including ``metadata["metrics"]``, the test-split metrics."""
    history: pd.DataFrame
    """One row per epoch: losses, accuracies, seconds."""
    test_predictions: np.ndarray
    """Predicted class index of every test cell, in the test split's row order (int64, test cells),
    the predictions the test metrics were computed from."""


def fit_classifier(
    prepared: ad.AnnData,
    config: Mapping,
    regime: str,
    device: torch.device,
    standard: torch.nn.Module | None = None,
    logistic_metrics: Mapping | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> FittedClassifier:
    """Train one regime's classifier and predict the test split once.

    Returns a :class:`FittedClassifier`: the model, the metadata for the model file (with the test
    metrics), the per-epoch history and the test predictions, so callers that need predictions
    (the confusion figure) do not predict the test split again.

    ``config`` needs the sections ``seed``, ``model`` and ``train``, for adversarial regimes
    also ``attack`` and ``adversarial_training``, and with ``logistic_metrics`` (the logistic
    baseline's test metrics on the same split, :func:`scrobin.model.logistic.logistic_baseline_metrics`) also
    ``model_check``: the test metrics then carry ``logistic_baseline`` and ``model_check``.
    """
    seed = config["seed"]
    classes = class_names(prepared)
    x_train, y_train = split_cells(prepared, "train")
    x_val, y_val = split_cells(prepared, "validation")
    model_config, train_config = resolve_model_config(config, len(y_train))
    settings = TrainingSettings.from_config(train_config)
    adversary = certified_loss = None
    if regime == "ibp":
        certified_loss = ibp_loss(config["adversarial_training"], config["attack"])
    elif regime != "standard":
        adversarial = config["adversarial_training"]
        settings.adversarial_fraction = adversarial["adversarial_fraction"]
        if adversarial["mode"] == "one_shot":
            x_train, y_train = one_shot_augmentation(standard, x_train, y_train, regime, config["attack"], seed)
        else:
            adversary = make_adversary(regime, config["attack"], seed)
    initial_seed = seed
    if regime != "standard" and not config["adversarial_training"]["same_initialisation"]:
        initial_seed = seed + REGIMES.index(regime)
    model = build_network(prepared.n_vars, len(classes), model_config, initial_seed, device)
    history = train_classifier(
        model, x_train, y_train, settings, seed, x_val, y_val, adversary=adversary, certified_loss=certified_loss, log=log
    )
    x_test, y_test = split_cells(prepared, "test")
    predicted = predict_logits(model, x_test).argmax(axis=1)
    metrics = classification_metrics(y_test, predicted, classes)
    metrics.update(best_epoch=history.best_epoch, epochs_run=len(history.epochs),
                   patience_epochs=history.patience_epochs, training_seconds=history.seconds)
    if logistic_metrics is not None:
        metrics["logistic_baseline"] = {key: logistic_metrics[key] for key in ("accuracy", "macro_f1")}
        metrics["model_check"] = check_model(metrics, predicted, y_test, classes, logistic_metrics, config["model_check"])
    metadata = {
        "regime": regime,
        "dataset": prepared.uns[SCROBIN_KEY]["dataset"],
        "classes": classes,
        "genes": list(map(str, prepared.var_names)),
        "transform": prepared.uns[SCROBIN_KEY]["transform"],
        "training": train_config,
        "attack": dict(config["attack"]) if regime != "standard" else None,
        "adversarial_training": dict(config["adversarial_training"]) if regime != "standard" else None,
        "model": model_config,
        "seed": seed,
        "device": str(device),
        "metrics": metrics,
    }
    return FittedClassifier(model, metadata, pd.DataFrame(history.epochs), predicted)
