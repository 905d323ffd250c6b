"""The rules of ``workflow/rules/attribution.smk`` (``attribute``, ``consensus``): one function per rule,
called as ``run_rule(snakemake, jobs.<rule>)``.

The method registry (``scrobin.attribution``) stays a pure library of methods; this module knows
the workflow's conventions (which cells, which target, what is recorded). Torch is imported
inside the jobs that run a model, so ``consensus`` runs in an env without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import anndata as ad
import numpy as np
import pandas as pd

from scrobin.cells import class_names, label_codes, sampled_test_rows, split_rows
from scrobin.contract import ATTRIBUTION_KEY, LABEL_KEY, PREDICTED_KEY, TARGET_KEY
from scrobin.model.check import MODEL_FLAG_COLUMN
from scrobin.data.model_input import model_input
from scrobin.tables import (
    GENE_SYMBOL_COLUMN, labels_of, read_table, tables_by_labels, with_gene_symbols, with_labels, write_table,
)

if TYPE_CHECKING:
    import torch


def attribute(snakemake, log) -> None:
    """Rule ``attribute``: one method's attributions and importance table for each regime's model
    of one replicate.

    Writes, per regime of ``params.regimes`` (the order of ``input.models`` and of both outputs),
    ``output.attributions`` (explained cells x genes h5ad, see :mod:`scrobin.contract`) and
    ``output.importance`` (per gene and cell type). Every model is loaded and checked before any is
    explained, so a refused model stops the job before its work. The importance is computed here:
    a job of its own would spend longer starting than computing.
    """
    from scrobin.attribution.importance import direction_from_prepared, ranked_importance, with_type_trust
    from scrobin.model.check import explainable_model_flag
    from scrobin.model.store import load_model_for
    from scrobin.runtime import resolve_device

    params, method = snakemake.params, snakemake.wildcards.method
    prepared = ad.read_h5ad(snakemake.input.prepared)
    device = resolve_device(params.device)
    models = {}
    for regime, path in zip(params.regimes, snakemake.input.models, strict=True):
        model, metadata = load_model_for(path, prepared, device)
        models[regime] = model, explainable_model_flag(metadata, params.on_flag)
    directions = direction_from_prepared(prepared)
    per_class = dict(zip(params.regimes, snakemake.input.per_class, strict=True))
    for regime, attributions_path, importance_path in zip(
        params.regimes, snakemake.output.attributions, snakemake.output.importance, strict=True
    ):
        model, flag = models.pop(regime)
        if flag:
            log.warning("explaining a flagged %s model: %s", regime, flag)
        result = attribute_cells(
            model, prepared, method, params.entry, params.cells_per_type, params.target, params.seed, params.device,
        )
        info = result.uns[ATTRIBUTION_KEY]
        info[MODEL_FLAG_COLUMN] = flag
        log.info("%s, %s model: %d cells x %d genes in %.2f s", method, regime, result.n_obs, result.n_vars,
                 info["runtime_seconds"])
        result.write_h5ad(attributions_path, compression="gzip")
        table = ranked_importance(result, directions, params.importance)
        # How well the model recognises each type: the genes of a type it does not explain its mistakes.
        table = with_type_trust(table, read_table(per_class[regime]), params.importance["min_type_f1"])
        table[MODEL_FLAG_COLUMN] = flag
        # Labelled with its replicate, regime and method, so readers of many tables need no path.
        table = with_labels(table, seed=params.seed, regime=regime, method=method)
        write_table(with_gene_symbols(table, prepared.var), importance_path)


def consensus(snakemake, log) -> None:
    """Rule ``consensus``: votes of the methods per gene and cell type, and the clustered heatmap,
    for every regime of one replicate.

    Each ``importance`` table names its seed, regime and method in its own columns, which group
    them; the ``tables`` and ``heatmaps`` outputs follow ``params.regimes``' order.
    """
    from scrobin.attribution.consensus import consensus_ranking, plot_consensus_heatmap

    settings, ds = snakemake.params.consensus, snakemake.wildcards.ds
    by_regime = tables_by_labels(snakemake.input.importance, by=["regime"], key="method")
    genes = ad.read_h5ad(snakemake.input.prepared, backed="r").var
    for regime, table_path, heatmap_path in zip(
        snakemake.params.regimes, snakemake.output.tables, snakemake.output.heatmaps, strict=True
    ):
        importances = by_regime[regime]
        table = consensus_ranking(importances, top_n=settings["top_n"])
        # Every importance table of a regime comes from the same model (one replicate's seed),
        # hence carries the same seed and flag.
        first = next(iter(importances.values()))
        (seed,) = labels_of(first, "seed")
        flag = first[MODEL_FLAG_COLUMN].fillna("").iloc[0]
        table[MODEL_FLAG_COLUMN] = flag
        # The dataset's gene_symbols (or var_names) next to the model's genes, and on the heatmap.
        table = with_gene_symbols(table, genes)
        write_table(with_labels(table, dataset=ds, seed=seed, regime=regime), table_path)
        title = f"{ds}, {regime} model{' (FLAGGED)' if flag else ''}: votes of {len(importances)} methods"
        plot_consensus_heatmap(
            table.assign(gene=table[GENE_SYMBOL_COLUMN]), heatmap_path, top_k=settings["heatmap_top_k"],
            max_votes=snakemake.params.n_methods, title=title, direction=snakemake.params.direction,
        )


def attribute_cells(
    model: torch.nn.Module,
    prepared: ad.AnnData,
    method: str,
    entry: Mapping,
    cells_per_type: int | None,
    target: str,
    seed: int,
    device: str,
) -> ad.AnnData:
    """Attributions of up to ``cells_per_type`` test cells per type, as a cells x genes AnnData.

    The target class is each cell's annotated type (``target="true"``) or the model's prediction.
    Training cells serve as the background of methods that need one, so the reference
    distribution is the one the model learned from, never the cells being explained.
    """
    from scrobin.attribution.compute import compute_attributions
    from scrobin.attribution.registry import method_spec
    from scrobin.attribution.registry import split_method_entry
    from scrobin.inference import predict_logits

    labels = label_codes(prepared)
    rows = sampled_test_rows(prepared, cells_per_type, seed)
    x = model_input(prepared)[rows]
    predicted = predict_logits(model, x).argmax(axis=1)
    targets = labels[rows] if target == "true" else predicted
    params, baseline = split_method_entry(method, entry)
    background = model_input(prepared, split_rows(prepared, "train")) if method_spec(method).needs_background(baseline) else None
    attributions, info = compute_attributions(
        model, x, targets, method, params, baseline, background=background, seed=seed, device=device
    )
    classes = np.array(class_names(prepared))
    obs = pd.DataFrame(
        {
            LABEL_KEY: prepared.obs[LABEL_KEY].to_numpy()[rows],
            TARGET_KEY: pd.Categorical(classes[targets], categories=classes),
            PREDICTED_KEY: pd.Categorical(classes[predicted], categories=classes),
        },
        index=prepared.obs_names[rows],
    )
    result = ad.AnnData(X=attributions.astype(np.float32), obs=obs, var=pd.DataFrame(index=prepared.var_names))
    for name, layer in info.pop("layers", {}).items():
        result.layers[name] = np.asarray(layer, dtype=np.float32)
    result.uns[ATTRIBUTION_KEY] = _storable(
        {**info, "target_rule": target, "cells_per_type": cells_per_type if cells_per_type is not None else "all"}
    )
    return result


def _storable(value):
    """Drop None values, which h5ad cannot store, keeping the rest of nested dicts."""
    if isinstance(value, Mapping):
        return {str(k): _storable(v) for k, v in value.items() if v is not None}
    return value
