"""The data contract: every AnnData key the workflow writes and the key later rules read it under.

Every module names these keys through the constants below, never as string literals, so a key is
renamed in one place. docs/data-contract.md shows the same table (a test keeps the
two in step).

``prepared.h5ad`` (rule ``prepare``, :func:`scrobin.data.prepare.prepare_dataset`)
    Sets the following fields:

    ``.X``
        Cells x model genes float32. With a scaling step (the default) and
        ``uns[SCROBIN_KEY][X_SCALED_KEY]`` False: the log-normalised values, sparse CSR, and the
        model input is :func:`scrobin.data.model_input.model_input` (the recorded scaling applied to
        the rows read, batch by batch). Otherwise (``X_SCALED_KEY`` True or absent): the model
        input itself.
    ``.obs[LABEL_KEY]``
        Categorical cell type; its categories, in order, are the model's classes.
    ``.obs[SPLIT_KEY]``
        Categorical ``train`` / ``validation`` / ``test`` (seeded, stratified by cell type).
    ``.var[GENE_SYMBOL_KEY]``
        Display symbol of each gene, when the dataset names a ``gene_symbols`` column; tables,
        figures and enrichment show it, the model and its transform keep ``var_names``.
    ``.layers[LOGNORM_LAYER]``
        Log-normalised expression (cells x genes, sparse), when the source allows it: read by the
        DE ranking and by the direction of importance.
    ``.uns[SCROBIN_KEY]``
        ``dataset``, ``source``, ``label_key``, ``source_label_key``, ``organism``, ``seed``,
        ``dropped_types``, ``quality_control``, ``split_fractions``, ``transform`` (every
        preprocessing parameter, :func:`scrobin.data.preprocess.apply_transform` replays it; with
        ``gene_symbols`` also the symbols of its gene lists), ``X_SCALED_KEY`` (whether ``.X`` is
        already scaled) and, for a dataset with ``split_by``, ``split_by`` (``key``, ``test``
        values, ``n_test_cells``).
    ``.uns[GROUND_TRUTH_KEY]``
        Simulated data only: ``key_genes`` and ``direct_targets`` (cell type -> genes the model
        sees) and ``*_not_selected`` counts, read by key-gene recovery.

Simulated source (:func:`scrobin.data.simulate.simulate`)
    Sets ``.uns[GROUND_TRUTH_KEY]`` (with the full network) and ``.uns[SIMULATION_KEY]`` (every
    simulation parameter).

``attributions/{regime}/{method}.h5ad`` (rule ``attribute``, :func:`scrobin.attribution.jobs.attribute_cells`)
    Sets the following fields:

    ``.X``
        Attributions, explained cells x genes float32.
    ``.obs[LABEL_KEY]``
        The cell's annotated type.
    ``.obs[TARGET_KEY]``
        The class explained (annotated type or prediction, per ``attribution.target``).
    ``.obs[PREDICTED_KEY]``
        The model's predicted class.
    ``.layers[...]``
        Extra per-cell maps some methods return (saliency with ``gradient_of: both``).
    ``.uns[ATTRIBUTION_KEY]``
        The method, its parameters and baselines, its runtime in seconds, the target rule and
        the model-check flag.

Labelled query (:func:`scrobin.model.annotate.annotate_query`, ``scrobin annotate``)
    The query's own obs, var, X and layers, plus:

    ``.obs["scrobin_<model>_label"]``, ``_probability``, ``_unassigned``
        Per model (its regime, or ``<regime>_seed<seed>``): the predicted type (categorical,
        the model's classes), its softmax probability and whether that is below the threshold
        (:func:`scrobin.model.annotate.label_columns`).
    ``.uns[ANNOTATION_KEY]``
        The threshold, each model (regime, seed, dataset, file, classes, its columns, its score
        against the query's labels) and each replay of a transform (genes matched by, missing
        genes and their share, the rule applied to them).

Tables (TSV) name what they hold in leading columns (:func:`scrobin.tables.with_labels`): every
per-model table has ``seed`` (the replicate) and ``regime`` (importance tables also ``method``,
sweeps ``model``); the summaries over seeds in ``results/{dataset}/`` add ``dataset``. The
metrics and enrichment JSON files carry the same keys. Readers group by these columns; no path is
decoded.
"""

from __future__ import annotations

LABEL_KEY = "cell_type"
SPLIT_KEY = "split"
GENE_SYMBOL_KEY = "gene_symbol"
LOGNORM_LAYER = "lognorm"
SCROBIN_KEY = "scrobin"
GROUND_TRUTH_KEY = "ground_truth"
SIMULATION_KEY = "simulation"
TARGET_KEY = "target"
PREDICTED_KEY = "predicted"
ATTRIBUTION_KEY = "attribution"
X_SCALED_KEY = "x_scaled"
ANNOTATION_KEY = "scrobin_annotation"

# (file, AnnData field) of every key above, in the order the table of docs/data-contract.md shows them.
FIELDS: tuple[tuple[str, str], ...] = (
    ("prepared.h5ad", f'obs["{LABEL_KEY}"]'),
    ("prepared.h5ad", f'obs["{SPLIT_KEY}"]'),
    ("prepared.h5ad", f'var["{GENE_SYMBOL_KEY}"]'),
    ("prepared.h5ad", f'layers["{LOGNORM_LAYER}"]'),
    ("prepared.h5ad", f'uns["{SCROBIN_KEY}"]'),
    ("prepared.h5ad", f'uns["{SCROBIN_KEY}"]["{X_SCALED_KEY}"]'),
    ("prepared.h5ad", f'uns["{GROUND_TRUTH_KEY}"]'),
    ("simulated source", f'uns["{SIMULATION_KEY}"]'),
    ("attributions h5ad", f'obs["{LABEL_KEY}"]'),
    ("attributions h5ad", f'obs["{TARGET_KEY}"]'),
    ("attributions h5ad", f'obs["{PREDICTED_KEY}"]'),
    ("attributions h5ad", f'uns["{ATTRIBUTION_KEY}"]'),
    ("labelled query h5ad", f'uns["{ANNOTATION_KEY}"]'),
)
