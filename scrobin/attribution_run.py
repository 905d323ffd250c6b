"""One attribution job: choose the cells, run the method, package the result as an AnnData.

Kept apart from the method registry so ``scrobin.attribution`` stays a pure library of methods
while this module knows the workflow's conventions (which cells, which target, what is recorded).
"""

from __future__ import annotations

from collections.abc import Mapping

import anndata as ad
import numpy as np
import pandas as pd
import torch

from scrobin.attribution import compute_attributions
from scrobin.cells import class_names, label_codes, sampled_test_rows, split_rows
from scrobin.config import split_method_entry
from scrobin.datasets import LABEL_COLUMN
from scrobin.sparse_scaling import model_input
from scrobin.training import predict_logits


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
    labels = label_codes(prepared)
    rows = sampled_test_rows(prepared, cells_per_type, seed)
    x = model_input(prepared)[rows]
    predicted = predict_logits(model, x).argmax(axis=1)
    targets = labels[rows] if target == "true" else predicted
    train = split_rows(prepared, "train")
    params, baseline = split_method_entry(method, entry)
    attributions, info = compute_attributions(
        model, x, targets, method, params, baseline, background=model_input(prepared, train), seed=seed, device=device
    )
    classes = np.array(class_names(prepared))
    obs = pd.DataFrame(
        {
            LABEL_COLUMN: prepared.obs[LABEL_COLUMN].to_numpy()[rows],
            "target": pd.Categorical(classes[targets], categories=classes),
            "predicted": pd.Categorical(classes[predicted], categories=classes),
        },
        index=prepared.obs_names[rows],
    )
    result = ad.AnnData(X=attributions.astype(np.float32), obs=obs, var=pd.DataFrame(index=prepared.var_names))
    for name, layer in info.pop("layers", {}).items():
        result.layers[name] = np.asarray(layer, dtype=np.float32)
    result.uns["attribution"] = _storable(
        {**info, "target_rule": target, "cells_per_type": cells_per_type if cells_per_type is not None else "all"}
    )
    return result


def _storable(value):
    """Drop None values, which h5ad cannot store, keeping the rest of nested dicts."""
    if isinstance(value, Mapping):
        return {str(k): _storable(v) for k, v in value.items() if v is not None}
    return value
