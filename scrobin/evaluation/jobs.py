"""The rules of ``workflow/rules/evaluation.smk``: one function per rule, called as ``run_rule(snakemake, jobs.<rule>)``.

``scrobin.evaluation`` holds the measures; this module decides what they are applied to (which
rankings, cells and settings). Every job reads its files from ``snakemake.input`` /
``snakemake.output`` by name. Torch is imported inside the jobs that run a model, so the table
and figure rules run in an env without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import anndata as ad
import numpy as np
import pandas as pd

from scrobin.cells import class_names, label_codes, random_test_rows, sampled_test_rows, split_rows
from scrobin.contract import LOGNORM_LAYER
from scrobin.errors import ScrobinError
from scrobin.evaluation import CELLTYPIST_RANKING, CONSENSUS, DE_RANKING, LOGISTIC_RANKING
from scrobin.data.model_input import model_input
from scrobin.tables import (
    concatenated_tables, labels_of, read_table, tables_by_labels, with_gene_symbols, with_labels, write_reported_table,
    write_table,
)

if TYPE_CHECKING:
    import torch

def de_baseline(snakemake, log) -> None:
    """Rule ``de_baseline``: Wilcoxon rank-sum DE (ties corrected) of each cell type against the rest (Benjamini-Hochberg).

    Needs the log-normalised values of the prepared data (``layers["lognorm"]``, or the sparse
    ``X`` itself, see :func:`scrobin.prepared_layout.lognorm_expression`).

    Raises
    ------
    ScrobinError
        When the dataset has no log-normalised values (scaled input without ``.raw``).
    """
    from scrobin.evaluation.de import de_ranking
    from scrobin.prepared_layout import lognorm_expression

    prepared = ad.read_h5ad(snakemake.input.prepared)
    expression = lognorm_expression(prepared)
    if expression is None:
        raise ScrobinError(
            f"dataset '{snakemake.wildcards.ds}' has no log-normalised values for DE (scaled input without .raw): "
            "start from counts or log-normalised data"
        )
    prepared.layers[LOGNORM_LAYER] = expression
    table = de_ranking(prepared, layer=LOGNORM_LAYER, alpha=snakemake.params.alpha)
    write_table(with_gene_symbols(table, prepared.var), snakemake.output.table)


def de_overlap(snakemake, log) -> None:
    """Rule ``de_overlap``: top DE genes vs top consensus genes per cell type, for every regime of
    one replicate (paper Fig. 3d,e).

    The ``consensus`` inputs and the ``tables`` and ``figures`` outputs list the regimes in one
    order (the rule expands all three over them); each consensus table names its seed and regime in
    its own columns, which label the overlap table.
    """
    from scrobin.evaluation.de import de_top_genes, reference_overlap, top_ranked_genes
    from scrobin.evaluation.figures import plot_de_venn

    top_n = snakemake.params.top_n
    de_table = read_table(snakemake.input.de)
    cell_types = de_table["cell_type"].astype(str).unique()
    # The baselines' top genes: the significant DE genes (the paper's comparison) and the
    # logistic regression's largest coefficients (CellTypist's way of naming markers).
    baselines = {DE_RANKING: de_top_genes(de_table, top_n),
                 LOGISTIC_RANKING: top_ranked_genes(read_table(snakemake.input.logistic), top_n)}
    for consensus_path, table_path, figure_path in zip(
        snakemake.input.consensus, snakemake.output.tables, snakemake.output.figures, strict=True
    ):
        consensus = read_table(consensus_path)
        seed, regime = labels_of(consensus, "seed", "regime")
        overlaps = {name: reference_overlap(genes, cell_types, consensus, top_n) for name, genes in baselines.items()}
        plot_de_venn(overlaps[DE_RANKING], figure_path, ranking_label=f"consensus ({regime})")
        table = pd.concat([with_labels(overlap, baseline=name) for name, overlap in overlaps.items()], ignore_index=True)
        write_table(with_labels(table, seed=seed, regime=regime), table_path)


def recovery(snakemake, log) -> None:
    """Rule ``recovery``: key genes (simulated truth or a markers file) recovered by every ranking of
    every replicate and regime, vs chance.

    The rankings are the ``importance`` and ``consensus`` inputs; each table names its replicate
    seed, regime and (importance) method in its own columns, so no path or key is decoded.
    """
    from scrobin.evaluation.figures import plot_recovery
    from scrobin.evaluation.ground_truth import ALL_TYPES, recovery_reference, recovery_table

    truth, source, notes, n_given = recovery_reference(ad.read_h5ad(snakemake.input.prepared, backed="r"),
                                                       snakemake.input.get("markers"))
    log.info("key genes: %s (%d cell types, %d distinct genes)", source, len(truth),
             len({gene for genes in truth.values() for gene in genes}))
    for note in notes:
        log.info("%s", note)
    rankings = tables_by_labels(snakemake.input.importance, by=["seed", "regime"], key="method")
    for path in snakemake.input.consensus:
        table = read_table(path)
        rankings[labels_of(table, "seed", "regime")][CONSENSUS] = table
    # The baselines every ranking is held against: tie-corrected DE, the logistic regression's
    # coefficients and, when it ran, CellTypist's markers.
    baselines = {DE_RANKING: read_table(snakemake.input.de), LOGISTIC_RANKING: read_table(snakemake.input.logistic)}
    for path in snakemake.input.celltypist:
        baselines[CELLTYPIST_RANKING] = read_table(path)
    tables = [
        with_labels(recovery_table({**by_method, **baselines}, truth, top_n=snakemake.params.top_n, regime=regime,
                                   source=source, n_given=n_given), dataset=snakemake.wildcards.ds, seed=seed)
        for (seed, regime), by_method in rankings.items()
    ]
    table = pd.concat(tables, ignore_index=True)
    write_reported_table(table, snakemake.output.table, snakemake.output.table_view, f"{snakemake.wildcards.ds}: key-gene recovery")
    plot_recovery(table, snakemake.output.figure)
    summary = table[table["cell_type"] == ALL_TYPES][["seed", "regime", "method", "recovered", "expected", "p_value"]]
    log.info("\n%s", summary.to_string(index=False))


def faithfulness(snakemake, log) -> None:
    """Rule ``faithfulness``: deletion and insertion curves of every ranking of each regime's model
    of one replicate, against random.

    The rankings are the ``importance`` tables (each names its regime and method in its own
    columns) and the ``consensus`` tables (each names its regime); ``input.models`` and both
    outputs follow ``params.regimes``' order.
    """
    from scrobin.model.store import load_model_for
    from scrobin.runtime import resolve_device

    params = snakemake.params
    prepared = ad.read_h5ad(snakemake.input.prepared)
    device = resolve_device(params.device)
    rankings = tables_by_labels(snakemake.input.importance, by=["regime"], key="method")
    for path in snakemake.input.consensus:
        table = read_table(path)
        (regime,) = labels_of(table, "regime")
        rankings[regime][CONSENSUS] = table
    for regime, model_path, areas_path, curves_path in zip(
        params.regimes, snakemake.input.models, snakemake.output.areas, snakemake.output.curves, strict=True
    ):
        model, _ = load_model_for(model_path, prepared, device)
        curves, areas = regime_faithfulness(
            model, prepared, rankings[regime], regime, params.evaluation, params.cells_per_type, params.seed
        )
        write_table(with_labels(curves, seed=params.seed), curves_path)
        write_table(with_labels(areas, seed=params.seed), areas_path)
        log.info("%s model:\n%s", regime, areas.to_string(index=False))


def stability(snakemake, log) -> None:
    """Rule ``stability``: captum's sensitivity_max and infidelity of every configured method on each
    regime's model of one replicate (``params.regimes``' order, as ``input.models`` and
    ``output.tables``)."""
    from scrobin.model.store import load_model_for
    from scrobin.runtime import resolve_device

    params = snakemake.params
    prepared = ad.read_h5ad(snakemake.input.prepared)
    device = resolve_device(params.device)
    for regime, model_path, table_path in zip(params.regimes, snakemake.input.models, snakemake.output.tables, strict=True):
        model, _ = load_model_for(model_path, prepared, device)
        table = regime_stability(model, prepared, params.methods, regime, params.evaluation, params.seed, params.device)
        table = with_labels(table, seed=params.seed)
        write_table(table, table_path)
        log.info("%s model:\n%s", regime, table.to_string(index=False))


def sanity(snakemake, log) -> None:
    """Rule ``sanity``: the explanation sanity checks (Adebayo et al. 2018) of every configured method
    on the models of ``params.regimes`` (``evaluation.sanity_regimes``) of one replicate.

    Each table has one row per method and check (cascading layer randomisation, one row per layer,
    and the random other class) with the rank correlation of the per-type importance against the
    trained model's, and the method's verdict (explains the model, or the data).
    """
    from scrobin.attribution.registry import method_spec, split_method_entry
    from scrobin.evaluation.sanity import sanity_checks, sanity_verdicts
    from scrobin.model.store import load_model_for
    from scrobin.runtime import resolve_device

    params, settings = snakemake.params, snakemake.params.evaluation
    prepared = ad.read_h5ad(snakemake.input.prepared)
    rows = sampled_test_rows(prepared, params.cells_per_type, params.seed)
    x, y = model_input(prepared)[rows], label_codes(prepared)[rows]
    methods = {method: split_method_entry(method, entry) for method, entry in params.methods.items()}
    needs_background = any(method_spec(method).needs_background(baseline) for method, (_, baseline) in methods.items())
    background = model_input(prepared, split_rows(prepared, "train")) if needs_background else None
    for regime, model_path, table_path in zip(params.regimes, snakemake.input.models, snakemake.output.tables,
                                              strict=True):
        model, _ = load_model_for(model_path, prepared, resolve_device(params.device))
        table = sanity_checks(model, x, y, methods, background=background, seed=params.seed,
                              sampling_cells_per_type=settings["sanity_sampling_cells_per_type"],
                              full=settings["sanity_full"], rank_by=params.rank_by)
        verdicts = sanity_verdicts(table, settings["sanity_threshold"]).set_index("method")["verdict"]
        table["verdict"] = table["method"].map(verdicts)
        write_table(with_labels(table, seed=params.seed, regime=regime), table_path)
        log.info("%s model:\n%s", regime, table.to_string(index=False))


def evaluation_figures(snakemake, log) -> None:
    """Rule ``evaluation_figures``: every replicate's and regime's faithfulness, stability, baseline
    overlap and sanity checks in one table (with a ``dataset`` column) and figure (mean and spread
    over seeds) each."""
    from scrobin.evaluation.figures import plot_faithfulness, plot_sanity, plot_stability

    dataset = snakemake.wildcards.ds
    stability_table = concatenated_tables(snakemake.input.stability, dataset)
    output = snakemake.output
    for name, table in (("de_overlap", concatenated_tables(snakemake.input.de_overlap, dataset)),
                        ("faithfulness", concatenated_tables(snakemake.input.faithfulness, dataset)),
                        ("stability", stability_table)):
        write_reported_table(table, output[name], output[f"{name}_view"], f"{dataset}: {name.replace('_', ' ')}")
    plot_faithfulness(concatenated_tables(snakemake.input.curves), snakemake.output.faithfulness_figure)
    plot_stability(stability_table, snakemake.output.stability_figure)
    sanity_table = concatenated_tables(snakemake.input.sanity, dataset)
    write_reported_table(sanity_table, output.sanity, output.sanity_view, f"{dataset}: sanity checks")
    plot_sanity(sanity_table, snakemake.output.sanity_figure)


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
    from scrobin.evaluation.faithfulness import faithfulness as deletion_insertion, gene_order_from_ranking

    x, y = evaluation_cells(prepared, cells_per_type, seed)
    types = np.array(class_names(prepared))[y]
    orders = {name: gene_order_from_ranking(table, prepared.var_names, types) for name, table in rankings.items()}
    return deletion_insertion(
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
    import torch

    from scrobin.attribution.compute import compute_attributions
    from scrobin.attribution.registry import method_spec
    from scrobin.attribution.registry import split_method_entry
    from scrobin.evaluation.stability import stability_scores

    # One draw of the scored cells, before any is read: only they are scaled and densified.
    rows = random_test_rows(prepared, settings["stability_cells"], seed)
    x, y = model_input(prepared)[rows], label_codes(prepared)[rows]
    specs = {method: (method_spec(method), *split_method_entry(method, entry)) for method, entry in methods.items()}
    needs_background = any(spec.needs_background(baseline) for spec, _, baseline in specs.values())
    training_cells = model_input(prepared, split_rows(prepared, "train")) if needs_background else None
    rows = []
    for method, (spec, params, baseline) in specs.items():
        background = training_cells if spec.needs_background(baseline) else None

        # ``scored`` says which scored cell each row is, so a sampling explainer re-explains a
        # cell's perturbed copies with that cell's own design.
        def explain(cells: torch.Tensor, target: torch.Tensor, scored: torch.Tensor, method=method, params=params,
                    baseline=baseline, background=background):
            attributions, _ = compute_attributions(
                model, cells.detach().cpu().numpy(), target.detach().cpu().numpy(), method, params, baseline,
                background=background, seed=seed, device=device, design_of_cell=scored.cpu().numpy(),
            )
            return torch.as_tensor(attributions, device=cells.device)

        scores = stability_scores(
            model, explain, x, y, n_cells=None,
            n_perturb_samples=settings["stability_perturbations"], perturb_radius=settings["stability_radius"],
            multiply_by_inputs=spec.multiplies_by_inputs(params), output=params.get("output", "logits"), seed=seed,
        )
        note = ""
        if spec.input_independent:
            # The same explanation for every cell of a class: zero sensitivity says nothing.
            scores.update(dict.fromkeys(("sensitivity_max", "sensitivity_max_sd", "sensitivity_max_se"), np.nan))
            note = "sensitivity_max not applicable: the explanation depends on the target class only"
        rows.append({"regime": regime, "method": method, **scores, "note": note})
    return pd.DataFrame(rows)
