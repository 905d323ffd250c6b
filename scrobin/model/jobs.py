"""The rules of ``workflow/rules/model.smk``: one function per rule, called as ``run_rule(snakemake, jobs.<rule>)``.

``logistic_baseline``, ``train`` and ``adv_train`` fit scrobin's classifiers; ``celltypist`` fits the
classifier users reach for on the same cells; ``annotate_query`` labels a query with every model of
a replicate.

Every job reads its files from ``snakemake.input`` / ``snakemake.output`` by name and its settings
from ``snakemake.params``.
"""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd

from scrobin.tables import write_json


def logistic_baseline(snakemake, log) -> None:
    """Rule ``logistic_baseline``: a logistic regression on the networks' split.

    Fitted on at most ``params.train_cells`` training cells (``model_check.logistic_train_cells``).
    Writes ``output.model`` (the classifier, no pickle) and ``output.metrics`` (its test accuracy
    and macro-F1, the reference every network is checked against, and ``n_train_cells``).
    """
    from scrobin.attribution.importance import direction_from_prepared
    from scrobin.cells import class_names
    from scrobin.evaluation.baselines import logistic_ranking
    from scrobin.model.logistic import logistic_baseline_metrics, save_logistic_baseline
    from scrobin.tables import with_gene_symbols, write_table

    prepared = ad.read_h5ad(snakemake.input.prepared)
    classifier, metrics = logistic_baseline_metrics(prepared, snakemake.params.seed, snakemake.params.train_cells)
    save_logistic_baseline(classifier, snakemake.output.model)
    log.info("logistic baseline on %d training cells: test accuracy %.4f, macro-F1 %.4f",
             metrics["n_train_cells"], metrics["accuracy"], metrics["macro_f1"])
    write_json(metrics, snakemake.output.metrics)
    # Its coefficients rank each type's genes as CellTypist names a type's markers: a baseline
    # beside DE that every ranking's recovery is compared with.
    ranking = logistic_ranking(classifier, prepared.var_names, class_names(prepared), direction_from_prepared(prepared))
    write_table(with_gene_symbols(ranking, prepared.var), snakemake.output.ranking)


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
    metrics = {"dataset": dataset, "regime": regime, "seed": config["seed"], **metadata["metrics"],
               "test_split": test_split_description(prepared)}
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


def celltypist(snakemake, log) -> None:
    """Rule ``celltypist``: CellTypist trained on the training cells, side by side with scrobin's models.

    Writes ``output.model`` (coefficients and scaler, no pickle), ``output.metrics`` (test accuracy,
    macro-F1 and per-type F1, its accuracy on every labelled query, fit seconds), ``output.robustness``
    (its exact robust accuracy at every swept eps and the attack budget: a sweep table, model
    ``celltypist``) and ``output.ranking`` (its markers in ``extract_top_markers`` order over the
    model's genes, as a ranking recovery scores). CellTypist's own model folder stays inside the
    run (``params.folder``); its download index is never read.
    """
    import time

    from scrobin.data.checks import query_subject
    from scrobin.data.datasets import load_dataset
    from scrobin.data.query import check_query
    from scrobin.model.annotate import score_labels
    from scrobin.model.celltypist_reference import (
        celltypist_input,
        celltypist_markers,
        celltypist_metrics,
        fit_celltypist,
        predict_celltypist,
        prepared_celltypist_input,
        save_celltypist,
    )
    from scrobin.robustness.budget import sweep_grid
    from scrobin.robustness.linear_exact import celltypist_exact_sweep
    from scrobin.tables import with_gene_symbols, with_labels, write_table

    params, dataset = snakemake.params, snakemake.wildcards.ds
    prepared = ad.read_h5ad(snakemake.input.prepared)
    cells = prepared_celltypist_input(load_dataset(params.spec, name=dataset), prepared)
    started = time.perf_counter()
    settings = {key: value for key, value in params.celltypist.items() if key != "enabled"}
    model = fit_celltypist(cells, params.folder, seed=params.seed, **settings)
    fit_seconds = time.perf_counter() - started
    save_celltypist(model, snakemake.output.model)
    metrics, _ = celltypist_metrics(model, cells, split="test")
    log.info("CellTypist on %d training cells x %d genes (%.1f s): test accuracy %.4f, macro-F1 %.4f",
             int((cells.obs["split"] == "train").sum()), cells.n_vars, fit_seconds, metrics["accuracy"], metrics["macro_f1"])
    queries = {}
    for query, spec in params.queries.items():
        if spec.get("label_key") is None:
            continue
        subject = query_subject(dataset, query)
        query_cells = load_dataset(spec, name=f"{dataset}.queries.{query}")
        state = check_query(query_cells, spec, subject)
        predicted = predict_celltypist(model, celltypist_input(query_cells, state, spec.get("layer"), dataset=dataset))
        classes = list(map(str, predicted.classes))
        codes = pd.Categorical(predicted.labels, categories=classes).codes
        queries[query] = score_labels(query_cells.obs[spec["label_key"]], codes, np.zeros(len(codes), bool), classes)
        log.info("CellTypist on query %s: accuracy %.4f on %d cells", query, queries[query]["accuracy"], queries[query]["n_cells"])
    write_json({"dataset": dataset, "model": "celltypist", **metrics, "n_genes": int(cells.n_vars),
                "fit_seconds": fit_seconds, "queries": queries}, snakemake.output.metrics)
    eps_grid = sweep_grid(params.eps_grid, params.attack, snakemake.input.get("eps_structure"), dataset)
    sweep = celltypist_exact_sweep(model, cells, eps_grid, split="test", domain_low=None)
    in_domain = celltypist_exact_sweep(model, cells, eps_grid, split="test", domain_low=0.0)
    # The networks' attacks leave scaled expression unbounded, so the like-for-like row is
    # unbounded; the one that keeps log-expression >= 0 (a weaker attacker) is reported beside it.
    sweep["accuracy_in_domain"] = in_domain["accuracy"].to_numpy()
    sweep["bound"] = "exact"
    write_table(with_labels(sweep, model="celltypist"), snakemake.output.robustness)
    ranking = celltypist_markers(model, genes=prepared.var_names)
    write_table(with_gene_symbols(ranking, prepared.var), snakemake.output.ranking)


def annotate_query(snakemake, log) -> None:
    """Rule ``annotate_query``: one query labelled by every regime's model of one replicate.

    Writes ``output.labelled`` (the query with ``scrobin_<regime>_label``, ``_probability`` and
    ``_unassigned`` in ``obs`` and the record in ``uns``, :mod:`scrobin.model.annotate`) and
    ``output.scores`` (per regime: accuracy and macro-F1 on the cells whose label is a reference
    type, unassigned and not-in-reference counts; empty for an unlabelled query).
    """
    from scrobin.data.checks import query_subject
    from scrobin.data.datasets import load_dataset
    from scrobin.model.annotate import annotate_query as label_query, load_annotation_models
    from scrobin.runtime import resolve_device
    from scrobin.tables import write_table

    params, dataset, query = snakemake.params, snakemake.wildcards.ds, snakemake.wildcards.query
    models = load_annotation_models(list(snakemake.input.models), resolve_device(params.device))
    cells = load_dataset(params.spec, name=f"{dataset}.queries.{query}")
    result = label_query(cells, models, params.spec, query_subject(dataset, query),
                         params.annotation["unassigned_threshold"], params.annotation["min_shared_genes"])
    result.write(cells, snakemake.output.labelled)
    scores = result.scores.assign(query=query)
    write_table(scores, snakemake.output.scores)
    for row in scores.itertuples(index=False):
        log.info("query %s, %s model: accuracy %.4f on %d cells", query, row.regime, row.accuracy, row.n_cells)


def test_split_description(prepared) -> str:
    """What the test cells are: a random stratified share, or cells held out by ``split_by`` (a
    shift: another donor, batch, condition or phase), for the metrics and the verdict."""
    from scrobin.contract import SCROBIN_KEY

    split_by = prepared.uns[SCROBIN_KEY].get("split_by")
    if not split_by:
        return "random stratified"
    values = ", ".join(map(str, split_by["test"]))
    return f"held out: {split_by['key']} {values}"
