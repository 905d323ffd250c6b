"""The workflow's evaluation jobs: which rankings, cells and settings each check is run with.

``scrobin.evaluation`` holds the measures; this module decides what they are applied to, so the
rule scripts stay thin and the measures stay reusable on their own.
"""

from __future__ import annotations

from collections.abc import Mapping

import anndata as ad
import numpy as np
import pandas as pd
import torch

from scrobin.attribution import compute_attributions
from scrobin.attribution.registry import method_spec
from scrobin.cells import class_names, label_codes, sampled_test_rows, split_rows
from scrobin.config import split_method_entry
from scrobin.evaluation.faithfulness import faithfulness, gene_order_from_ranking
from scrobin.evaluation.stability import stability_scores
from scrobin.sparse_scaling import model_input


def evaluation_cells(prepared: ad.AnnData, cells_per_type: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Test cells (a seeded, stratified subset) as a dense matrix, and their class indices."""
    rows = sampled_test_rows(prepared, cells_per_type, seed)
    return model_input(prepared)[rows], label_codes(prepared)[rows]


def regime_faithfulness(
    model: torch.nn.Module,
    prepared: ad.AnnData,
    rankings: Mapping[str, pd.DataFrame],
    regime: str,
    settings: Mapping,
    cells_per_type: int | None,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deletion / insertion curves of each method's and the consensus's per-type ranking.

    Removed genes take the value 0, the training mean of scaled data, which is also the default
    attribution baseline, so "deleting" a gene means setting it to an average cell's level.
    """
    x, y = evaluation_cells(prepared, cells_per_type, seed)
    types = np.array(class_names(prepared))[y]
    orders = {name: gene_order_from_ranking(table, prepared.var_names, types) for name, table in rankings.items()}
    return faithfulness(
        model, x, y, orders, baseline=0.0, max_genes=min(settings["faithfulness_max_genes"], prepared.n_vars),
        n_steps=settings["faithfulness_steps"], n_random=settings["faithfulness_random_draws"], seed=seed, regime=regime,
    )


def regime_stability(
    model: torch.nn.Module,
    prepared: ad.AnnData,
    methods: Mapping[str, Mapping],
    regime: str,
    settings: Mapping,
    seed: int,
    device: str,
) -> pd.DataFrame:
    """captum's sensitivity_max and infidelity of every configured method on this model.

    Every method and regime is scored on the same seeded test cells and perturbations, so a
    method's numbers compare across regimes. Whether a method's attributions are multiplied by
    the input (its spec's ``multiplies_by_inputs``, given its parameters) picks the infidelity
    perturbation: integrated gradients with ``multiply_by_inputs: false`` is a path-averaged
    gradient and is scored like saliency.
    """
    x, y = evaluation_cells(prepared, None, seed)
    background = model_input(prepared, split_rows(prepared, "train"))
    rows = []
    for method, entry in methods.items():
        params, baseline = split_method_entry(method, entry)

        def explain(cells: torch.Tensor, target: torch.Tensor, method=method, params=params, baseline=baseline):
            attributions, _ = compute_attributions(
                model, cells.detach().cpu().numpy(), target.detach().cpu().numpy(), method, params, baseline,
                background=background, seed=seed, device=device,
            )
            return torch.as_tensor(attributions, device=cells.device)

        scores = stability_scores(
            model, explain, x, y, n_cells=settings["stability_cells"],
            n_perturb_samples=settings["stability_perturbations"], perturb_radius=settings["stability_radius"],
            multiply_by_inputs=method_spec(method).multiplies_by_inputs(params), output=params.get("output", "logits"), seed=seed,
        )
        rows.append({"regime": regime, "method": method, **scores})
    return pd.DataFrame(rows)
