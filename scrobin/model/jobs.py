"""The rules of ``workflow/rules/model.smk``: one function per rule, called as ``run_rule(snakemake, jobs.<rule>)``.

Every job reads its files from ``snakemake.input`` / ``snakemake.output`` by name and its settings
from ``snakemake.params``.
"""

from __future__ import annotations

import json

import anndata as ad

from scrobin.tables import write_json


def logistic_baseline(snakemake, log) -> None:
    """Rule ``logistic_baseline``: a logistic regression on the networks' split.

    Fitted on at most ``params.train_cells`` training cells (``model_check.logistic_train_cells``).
    Writes ``output.model`` (the classifier, no pickle) and ``output.metrics`` (its test accuracy
    and macro-F1, the reference every network is checked against, and ``n_train_cells``).
    """
    from scrobin.model.logistic import logistic_baseline_metrics, save_logistic_baseline

    prepared = ad.read_h5ad(snakemake.input.prepared)
    classifier, metrics = logistic_baseline_metrics(prepared, snakemake.params.seed, snakemake.params.train_cells)
    save_logistic_baseline(classifier, snakemake.output.model)
    log.info("logistic baseline on %d training cells: test accuracy %.4f, macro-F1 %.4f",
             metrics["n_train_cells"], metrics["accuracy"], metrics["macro_f1"])
    write_json(metrics, snakemake.output.metrics)


def train(snakemake, log) -> None:
    """Rule ``train``: fit the standard classifier, evaluate it on the test split, save it."""
    _fit_regime(snakemake, log)


def adv_train(snakemake, log) -> None:
    """Rule ``adv_train``: fit an adversarially trained classifier (``params.regime``) at the attack budget."""
    _fit_regime(snakemake, log)


def _fit_regime(snakemake, log) -> None:
    """Fit ``params.regime``'s classifier and write the model, metrics, per-class table, history and figures."""
    from scrobin.cells import label_codes, split_rows
    from scrobin.model.classifier import fit_classifier
    from scrobin.model.plots import plot_confusion, plot_training_curves
    from scrobin.model.store import load_model, save_model
    from scrobin.metrics import per_class_table
    from scrobin.robustness.budget import attack_config_for, load_attack_budget
    from scrobin.runtime import resolve_device
    from scrobin.tables import write_table

    config, regime, dataset = snakemake.params.config, snakemake.params.regime, snakemake.wildcards.ds
    device = resolve_device(config["device"])
    budget = None
    if regime != "standard":
        # Before any work: with attack.eps auto and no structure-preserving eps this stops here.
        budget = load_attack_budget(config["attack"], snakemake.input.get("eps_structure"), dataset)
        config = {**config, "attack": attack_config_for(config["attack"], budget)}
        log.info("%s", budget["reason"])
    prepared = ad.read_h5ad(snakemake.input.prepared)
    standard = load_model(snakemake.input.standard, device)[0] if snakemake.input.get("standard") else None
    with open(snakemake.input.logistic) as handle:
        logistic = json.load(handle)
    log.info("training the %s classifier on %s with %d genes", regime, device, prepared.n_vars)
    model, metadata, history, test_predictions = fit_classifier(
        prepared, config, regime, device, standard=standard, logistic_metrics=logistic, log=log.info
    )
    metadata["attack_budget"] = budget
    metadata["metrics"]["attack_eps"] = None if budget is None else budget["eps"]
    save_model(snakemake.output.model, model, metadata)
    # Self-describing, so the comparison reads a list of these files without decoding paths.
    metrics = {"dataset": dataset, "regime": regime, "seed": config["seed"], **metadata["metrics"]}
    log.info(
        "%s layers %s; test accuracy %.4f, macro-F1 %.4f (logistic baseline %.4f, %.4f)", metadata["model"]["preset"],
        metadata["model"]["hidden_sizes"], metrics["accuracy"], metrics["macro_f1"], logistic["accuracy"], logistic["macro_f1"],
    )
    for reason in metrics["model_check"]["reasons"]:
        log.warning("dataset %s, %s model flagged: %s", dataset, regime, reason)
    write_json(metrics, snakemake.output.metrics)
    y_test = label_codes(prepared)[split_rows(prepared, "test")]
    write_table(per_class_table(metrics, y_test, metadata["classes"]), snakemake.output.per_class)
    write_table(history, snakemake.output.history)
    flagged = " FLAGGED" if metrics["model_check"]["flagged"] else ""
    title = f"{dataset}: {regime} model{flagged}\nmacro-F1 {metrics['macro_f1']:.2f} (logistic {logistic['macro_f1']:.2f})"
    plot_confusion(y_test, test_predictions, metadata["classes"], snakemake.output.confusion, title)
    plot_training_curves(history, snakemake.output.curves, f"{dataset}: {regime} model", metrics["best_epoch"])
