"""Rules train and adv_train: fit one regime's classifier, evaluate it on the test split, save it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import json

import anndata as ad

from scrobin.robustness.budget import attack_config_for, load_attack_budget
from scrobin.model.classifier import fit_classifier, split_cells
from scrobin.entrypoint import run_rule
from scrobin.metrics import per_class_table, plot_confusion, plot_training_curves
from scrobin.model.store import load_model, save_model
from scrobin.runtime import resolve_device
from scrobin.model.training import predict_logits
from scrobin.tables import write_table


def main(snakemake, log):
    config, regime = snakemake.params.config, snakemake.params.regime
    device = resolve_device(config["device"])
    budget = None
    if regime != "standard":
        # Before any work: with attack.eps auto and no structure-preserving eps this stops here.
        budget = load_attack_budget(config["attack"], snakemake.input.get("eps_structure"), snakemake.wildcards.ds)
        config = {**config, "attack": attack_config_for(config["attack"], budget)}
        log.info("%s", budget["reason"])
    prepared = ad.read_h5ad(snakemake.input.prepared)
    standard = load_model(snakemake.input.standard, device)[0] if snakemake.input.get("standard") else None
    with open(snakemake.input.logistic) as handle:
        logistic = json.load(handle)
    log.info("training the %s classifier on %s with %d genes", regime, device, prepared.n_vars)
    model, metadata, history = fit_classifier(
        prepared, config, regime, device, standard=standard, logistic_metrics=logistic, log=log.info
    )
    metadata["attack_budget"] = budget
    metadata["metrics"]["attack_eps"] = None if budget is None else budget["eps"]
    save_model(snakemake.output.model, model, metadata)
    metrics = metadata["metrics"]
    log.info(
        "%s layers %s; test accuracy %.4f, macro-F1 %.4f (logistic baseline %.4f, %.4f)", metadata["model"]["preset"],
        metadata["model"]["hidden_sizes"], metrics["accuracy"], metrics["macro_f1"], logistic["accuracy"], logistic["macro_f1"],
    )
    for reason in metrics["model_check"]["reasons"]:
        log.warning("dataset %s, %s model flagged: %s", snakemake.wildcards.ds, regime, reason)
    with open(snakemake.output.metrics, "w") as handle:
        json.dump(metrics, handle, indent=2)
    x_test, y_test = split_cells(prepared, "test")
    predicted = predict_logits(model, x_test).argmax(axis=1)
    write_table(per_class_table(metrics, y_test, metadata["classes"]), snakemake.output.per_class)
    write_table(history, snakemake.output.history)
    dataset = snakemake.wildcards.ds
    flagged = " FLAGGED" if metrics["model_check"]["flagged"] else ""
    title = f"{dataset}: {regime} model{flagged}\nmacro-F1 {metrics['macro_f1']:.2f} (logistic {logistic['macro_f1']:.2f})"
    plot_confusion(y_test, predicted, metadata["classes"], snakemake.output.confusion, title)
    plot_training_curves(history, snakemake.output.curves, f"{dataset}: {regime} model", metrics["best_epoch"])


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
