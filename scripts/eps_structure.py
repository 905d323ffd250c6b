"""Rule eps_structure: embeddings of clean vs attacked cells and a score of how much structure survives."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821 (the checkout's scrobin, also in conda envs)

import json

import anndata as ad

from scrobin.attack_budget import attack_budget
from scrobin.cells import class_names, label_codes, split_rows
from scrobin.entrypoint import run_rule
from scrobin.errors import ScrobinError
from scrobin.model_store import load_model_for
from scrobin.runtime import resolve_device
from scrobin.sparse_scaling import model_input
from scrobin.structure import (
    eps_structure,
    figure_eps,
    largest_structured_eps,
    plot_eps_structure,
)
from scrobin.tables import write_table


def main(snakemake, log):
    settings, seed = snakemake.params.structure, snakemake.params.seed
    prepared = ad.read_h5ad(snakemake.input.prepared)
    model, _ = load_model_for(snakemake.input.model, prepared, resolve_device(snakemake.params.device))
    rows = split_rows(prepared, "test")
    # Read lazily: eps_structure scales only the n_cells it draws, not the whole test split.
    x, y = model_input(prepared, rows), label_codes(prepared)[rows]
    n_neighbors = min(settings["n_neighbors"], min(settings["n_cells"], len(rows)) - 1)
    result = eps_structure(
        model, x, y, settings["eps"], attack=settings["attack"], n_cells=settings["n_cells"],
        n_neighbors=n_neighbors, device=snakemake.params.device, seed=seed,
    )
    write_table(result.table, snakemake.output.table)
    largest = largest_structured_eps(result.table, settings["threshold"])
    summary = {
        "threshold": settings["threshold"], "largest_structured_eps": largest, "n_neighbors": n_neighbors,
        "scores": {f"{eps:g}": float(score) for eps, score in zip(result.table["eps"], result.table["score"])},
    }
    with open(snakemake.output.summary, "w") as handle:
        json.dump(summary, handle, indent=2)
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


run_rule(snakemake, main)  # noqa: F821 (injected by Snakemake)
