"""The rules of ``workflow/rules/robustness.smk``: one function per rule, called as ``run_rule(snakemake, jobs.<rule>)``.

Every job reads its files from ``snakemake.input`` / ``snakemake.output`` by name and its settings
from ``snakemake.params``. Torch is imported inside the jobs that attack a model, so the plot-only
``robustness_curves`` runs in an env without it.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from scrobin.cells import class_names, label_codes, proportional_subset, split_rows
from scrobin.errors import ScrobinError
from scrobin.data.model_input import model_input
from scrobin.tables import concatenated_tables, with_labels, write_json, write_reported_table, write_table


def robustness(snakemake, log) -> None:
    """Rule ``robustness``: accuracy and macro-F1 of each regime's network of one replicate under
    every attack over the eps grid, with the bracket of its true robust accuracy (certified at
    every eps, the strongest attack at the budget or every eps: :mod:`scrobin.robustness.bracket`),
    one table per regime (``params.regimes``' order, as ``input.models``, ``output.tables`` and
    ``output.radii``), all on the same test cells; and each cell's certified radius."""
    import time

    from scrobin.model.store import load_model_for
    from scrobin.robustness.bracket import certified_radii, certified_rows, strongest_rows
    from scrobin.robustness.budget import load_attack_budget
    from scrobin.robustness.sweep import robustness_sweep
    from scrobin.runtime import resolve_device

    params, settings = snakemake.params, snakemake.params.robustness
    prepared, rows, eps_grid = _sweep_cells(snakemake)
    x, y = model_input(prepared)[rows], label_codes(prepared)[rows]
    cell_types = np.asarray(class_names(prepared), dtype=object)[y]
    device = resolve_device(params.device)
    strongest_eps = {"every": eps_grid, "none": []}.get(settings["strongest_attack"]["at"])
    if strongest_eps is None:
        try:
            strongest_eps = [load_attack_budget(params.attack, snakemake.input.get("eps_structure"),
                                                snakemake.wildcards.ds)["eps"]]
        except ScrobinError as error:  # no budget: adversarial training stops with this line; the sweep goes on
            log.warning("no strongest attack: %s", error)
            strongest_eps = []
    outputs = zip(params.regimes, snakemake.input.models, snakemake.output.tables, snakemake.output.radii, strict=True)
    for regime, model_path, table_path, radii_path in outputs:
        model, _ = load_model_for(model_path, prepared, device)
        log.info("attacking the %s model on %d test cells", regime, len(rows))
        seconds = {}
        started = time.perf_counter()
        parts = [robustness_sweep(model, x, y, settings["attacks"], eps_grid, device=params.device, seed=params.seed)
                 .assign(bound="upper")]
        seconds["sweep"] = time.perf_counter() - started
        started = time.perf_counter()
        parts.append(certified_rows(model, x, y, eps_grid, settings["certification"]))
        seconds["certification"] = time.perf_counter() - started
        started = time.perf_counter()
        parts.append(strongest_rows(model, x, y, strongest_eps, settings["attacks"], settings["strongest_attack"],
                                    params.seed))
        seconds["strongest attack"] = time.perf_counter() - started
        radii = pd.DataFrame(columns=["cell_type", "radius", "method", "eps_max"])
        if settings["certified_radius"] and settings["certification"]:
            started = time.perf_counter()
            radii = certified_radii(model, x, y, cell_types, settings["certification"][-1], max(eps_grid),
                                    settings["radius_tolerance"])
            seconds["certified radius"] = time.perf_counter() - started
        log.info("%s model: %s", regime, ", ".join(f"{what} {value:.2f} s" for what, value in seconds.items()))
        _write_sweep(pd.concat(parts, ignore_index=True), regime, table_path, log, seed=params.seed)
        write_table(with_labels(radii, seed=params.seed, regime=regime), radii_path)


def robustness_baseline(snakemake, log) -> None:
    """Rule ``robustness_baseline``: the same sweep for the logistic-regression classifier."""
    from scrobin.model.logistic import load_logistic_baseline
    from scrobin.robustness.linear_exact import exact_sweep, logistic_decision
    from scrobin.robustness.sweep import baseline_robustness_sweep

    prepared, rows, eps_grid = _sweep_cells(snakemake)
    classifier = load_logistic_baseline(snakemake.input.model)
    x, y = model_input(prepared)[rows], label_codes(prepared)[rows]
    table = baseline_robustness_sweep(classifier, x, y, snakemake.params.robustness["attacks"], eps_grid,
                                      seed=snakemake.params.seed)
    # A linear model's worst case in the box is closed form: its exact robust accuracy, beside
    # what the attacks find (never below it).
    table = pd.concat([table.assign(bound="upper"), exact_sweep(x, y, logistic_decision(classifier), eps_grid)
                       .assign(bound="exact")], ignore_index=True)
    _write_sweep(table, "logreg", snakemake.output.table, log)


def robustness_curves(snakemake, log) -> None:
    """Rule ``robustness_curves``: every model's sweep, of every replicate seed, in one table (with a
    ``dataset`` column) and two figures (mean and spread over seeds; no torch); the certified radii
    per regime and cell type, as a table and a figure."""
    from scrobin.robustness.plots import plot_robustness_curves

    from scrobin.evaluation.ground_truth import ALL_TYPES
    from scrobin.robustness.table import STRONGEST, radius_summary
    from scrobin.robustness.plots import plot_radii

    table = concatenated_tables([*snakemake.input.models, *snakemake.input.logistic, *snakemake.input.celltypist],
                                snakemake.wildcards.ds)
    radii = concatenated_tables(snakemake.input.radii, snakemake.wildcards.ds)
    # Cells of every replicate pooled per regime and type: each seed's model certifies the same cells.
    per_type = radius_summary(radii, ["dataset", "regime", "cell_type"])
    overall = radius_summary(radii, ["dataset", "regime"]).assign(cell_type=ALL_TYPES)
    write_reported_table(pd.concat([per_type, overall[per_type.columns]], ignore_index=True), snakemake.output.radius,
                         snakemake.output.radius_view, f"{snakemake.wildcards.ds}: certified radius per cell type")
    # The strongest attack runs at the budget (robustness.strongest_attack.at: budget): its one eps is it.
    strongest_eps = table.loc[table["attack"] == STRONGEST, "eps"].unique()
    budget = float(strongest_eps[0]) if len(strongest_eps) == 1 else None
    plot_radii(radii, snakemake.output.radius_figure, budget=budget)
    plot_robustness_curves(table, snakemake.output.accuracy, metric="accuracy", budget=budget)
    plot_robustness_curves(table, snakemake.output.macro_f1, metric="macro_f1", budget=budget)
    write_reported_table(table, snakemake.output.table, snakemake.output.table_view,
                         f"{snakemake.wildcards.ds}: accuracy under attack, every model")


def eps_structure(snakemake, log) -> None:
    """Rule ``eps_structure``: embeddings of clean vs attacked test cells, a structure score per eps,
    the largest eps that keeps the structure and the attack budget it gives."""
    from scrobin.model.store import load_model_for
    from scrobin.robustness.budget import attack_budget
    from scrobin.robustness.eps_structure import (
        eps_structure as structure_under_attack,
        figure_eps,
        largest_structured_eps,
        plot_eps_structure,
    )
    from scrobin.runtime import resolve_device

    settings, seed = snakemake.params.structure, snakemake.params.seed
    prepared = ad.read_h5ad(snakemake.input.prepared)
    model, _ = load_model_for(snakemake.input.model, prepared, resolve_device(snakemake.params.device))
    rows = split_rows(prepared, "test")
    # A kNN graph needs fewer neighbours than cells: a small test split lowers n_neighbors.
    n_neighbors = min(settings["n_neighbors"], min(settings["n_cells"], len(rows)) - 1)
    result = structure_under_attack(
        # Read lazily: eps_structure scales only the n_cells it draws, not the whole test split.
        model, model_input(prepared, rows), label_codes(prepared)[rows], settings["eps"], attack=settings["attack"],
        n_cells=settings["n_cells"], n_neighbors=n_neighbors, device=snakemake.params.device, seed=seed,
    )
    write_table(result.table, snakemake.output.table)
    largest = largest_structured_eps(result.table, settings["threshold"])
    summary = {
        "dataset": snakemake.wildcards.ds, "threshold": settings["threshold"], "largest_structured_eps": largest, "n_neighbors": n_neighbors,
        "scores": {f"{eps:g}": float(score) for eps, score in zip(result.table["eps"], result.table["score"])},
    }
    write_json(summary, snakemake.output.summary)
    log.info("largest eps keeping structure score >= %s: %s", settings["threshold"], largest)
    try:
        chosen = attack_budget(snakemake.params.attack, summary, snakemake.wildcards.ds)
        log.info("attack budget: %s", chosen["reason"])
    except ScrobinError as error:
        # The check itself succeeded; adversarial training is the stage that stops, with this line.
        chosen = None
        log.warning("%s", error)
    plot_eps_structure(
        result, snakemake.output.figure, method=settings["embedding"], class_names=class_names(prepared),
        n_neighbors=n_neighbors, seed=seed,
        eps_shown=figure_eps(settings["eps"], chosen and chosen["eps"], settings["figure_panels"]),
        chosen=chosen and chosen["eps"],
    )


def _sweep_cells(snakemake) -> tuple[ad.AnnData, np.ndarray, list[float]]:
    """The prepared data, the test cells a sweep attacks (a seeded share of each type) and its eps grid."""
    from scrobin.robustness.budget import sweep_grid

    settings, seed = snakemake.params.robustness, snakemake.params.seed
    eps_grid = sweep_grid(
        settings["eps_grid"], snakemake.params.attack, snakemake.input.get("eps_structure"), snakemake.wildcards.ds
    )
    prepared = ad.read_h5ad(snakemake.input.prepared)
    rows = split_rows(prepared, "test")
    rows = rows[proportional_subset(label_codes(prepared)[rows], settings["n_cells"], seed)]
    return prepared, rows, eps_grid


def _write_sweep(table: pd.DataFrame, model: str, path, log, seed: int | None = None) -> None:
    # A network's sweep names its replicate seed; the logistic baseline belongs to every replicate.
    table = with_labels(table, model=model, **({} if seed is None else {"seed": seed}))
    write_table(table, path)
    log.info("\n%s", table.to_string(index=False))
