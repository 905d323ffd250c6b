"""Checks on loaded cells, run before any preprocessing so bad data fails in one line.

Every check names the dataset, the problem and the fix; internals after these checks trust
their input (as scikit-learn's ``check_array`` boundary does).
"""

from __future__ import annotations

from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from scrobin.data.chunked_io import map_blocks, matrix_values
from scrobin.data.gene_names import resolve_gene_names, unmatched_message
from scrobin.data.preprocess import COUNT_FLAVORS, check_seurat_v3, detect_input_state
from scrobin.errors import ScrobinError
from scrobin.tables import MISSING_SPELLINGS

# A label that spells a missing value once turned into text: pandas' and R's spellings (the set
# scrobin.tables reads as missing numbers), compared ignoring case, plus the empty label.
_MISSING_FOLDED = frozenset(spelling.casefold() for spelling in MISSING_SPELLINGS) | {""}
# Spread of per-cell expm1 sums, relative to their median, below which they count as one
# constant: log1p(float32) round trips keep sums within 1e-5, float16 within 1e-3; counts,
# ambient-corrected or not, vary by tens of percent between cells.
CONSTANT_SUM_SPREAD = 0.01


@dataclass(frozen=True)
class Subject:
    """How a message names the cells checked and the setting that fixes a problem.

    A configured dataset is ``dataset 'pbmc'`` fixed under ``datasets.pbmc.<key>``, one of its
    queries ``dataset 'pbmc', query 'donor2'`` under ``datasets.pbmc.queries.donor2.<key>``, and a
    file given on the command line (``scrobin annotate``) is fixed by an option (``--layer``).
    """

    where: str
    prefix: str
    command_line: bool = False

    def setting(self, key: str) -> str:
        """The config key (or command-line option) that sets ``key``."""
        return f"--{key.replace('_', '-')}" if self.command_line else f"{self.prefix}{key}"


def dataset_subject(name: str) -> Subject:
    """The :class:`Subject` of configured dataset ``name``."""
    return Subject(f"dataset '{name}'", f"datasets.{name}.")


def query_subject(dataset: str, query: str) -> Subject:
    """The :class:`Subject` of query ``query`` of configured dataset ``dataset``."""
    return Subject(f"dataset '{dataset}', query '{query}'", f"datasets.{dataset}.queries.{query}.")


def _subject(name: str | Subject) -> Subject:
    return name if isinstance(name, Subject) else dataset_subject(name)


def input_matrix(adata: ad.AnnData, layer: str | None):
    """The matrix preprocessing starts from: ``X`` or the named layer."""
    return adata.X if layer is None else adata.layers[layer]


def cells_needed_per_type(min_cells_per_type: int, test_fraction: float, validation_fraction: float) -> int:
    """Fewest cells a type may have: the configured minimum, and one per split it is divided into."""
    n_splits = 1 + (test_fraction > 0) + (validation_fraction > 0)
    return max(min_cells_per_type, n_splits)


def check_cells(
    adata: ad.AnnData,
    name: str | Subject,
    label_key: str | None,
    layer: str | None,
    input_state: str,
    gene_symbols: str | None = None,
    missing_labels: str = "refuse",
) -> None:
    """Check names, labels and values of a dataset; raise ``ScrobinError`` on the first problem.

    Parameters
    ----------
    adata
        The cells as loaded (cells x genes).
    name
        The dataset's name in the config, or a :class:`Subject` (a query, a command-line file)
        naming the cells and the settings in messages.
    label_key
        obs column of the cell-type labels; None for unlabelled cells (a query), whose labels
        are then not checked.
    layer, input_state, gene_symbols
        The spec's settings of the same names.
    missing_labels
        ``refuse`` (default): cells without a label (NaN, or a text spelling of a missing value,
        :func:`missing_label_mask`) stop the run; ``drop`` or ``keep``: they are left to
        :func:`scrobin.data.prepare.checked_cells` to drop, or trained as a type of their own.
        Two labels that differ only by case or spaces (``'T cell'`` and ``'T cell '``: one
        population split into two classes) are refused whatever the setting.

    Raises
    ------
    ScrobinError
        A missing layer, symbol or label column, an empty X, duplicated cell or gene names,
        unlabelled cells, labels differing only by case or spaces, numeric labels, non-numeric, NaN or infinite values, or negative
        values where raw counts are expected; one line naming the setting to fix.
    """
    subject = _subject(name)
    where = subject.where
    if layer is not None and layer not in adata.layers:
        layers = ", ".join(adata.layers.keys()) or "none"
        raise ScrobinError(f"{where}: layer '{layer}' does not exist (layers: {layers}): fix {subject.setting('layer')}")
    if layer is None and _is_empty(adata.X):
        if adata.raw is not None:
            raise ScrobinError(
                f"{where}: X is empty and the counts are in .raw ({adata.raw.n_vars} genes): "
                f"set {subject.setting('use_raw')}: true to start from .raw.X"
            )
        layers = ", ".join(adata.layers.keys()) or "none"
        raise ScrobinError(
            f"{where}: X is empty and there is no .raw: store the expression matrix in X, or name a layer "
            f"in {subject.setting('layer')} (layers: {layers})"
        )
    if gene_symbols is not None and gene_symbols not in adata.var.columns:
        columns = ", ".join(map(str, adata.var.columns)) or "none"
        raise ScrobinError(
            f"{where}: gene symbol column '{gene_symbols}' is not in var (columns: {columns}): "
            f"fix {subject.setting('gene_symbols')}"
        )
    if label_key is not None and label_key not in adata.obs.columns:
        raise ScrobinError(
            f"{where}: label column '{label_key}' is not in obs (columns: {', '.join(map(str, adata.obs.columns))}): "
            f"set {subject.setting('label_key')} to one of them"
        )
    for axis, names in (("cell", adata.obs_names), ("gene", adata.var_names)):
        duplicated = names[names.duplicated()]
        if len(duplicated):
            raise ScrobinError(
                f"{where}: {len(duplicated)} duplicated {axis} names (e.g. '{duplicated[0]}'): make them unique, "
                f"e.g. adata.{'obs' if axis == 'cell' else 'var'}_names_make_unique()"
            )
    if label_key is not None:
        _check_labels(adata.obs[label_key], subject, missing_labels)
    matrix = input_matrix(adata, layer)
    values = matrix_values(matrix)
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
        raise ScrobinError(f"{where}: the expression matrix has dtype {values.dtype}, not numbers: store numeric values")
    if not np.all(np.isfinite(values)):
        n_bad = int(np.size(values) - np.isfinite(values).sum())
        raise ScrobinError(f"{where}: the expression matrix has {n_bad} NaN or infinite values: remove or impute them")
    counts_expected = input_state == "counts" or (layer is not None and input_state == "auto")
    if counts_expected and values.size and values.min() < 0:
        key = subject.setting("layer") if layer is not None else subject.setting("input_state")
        raise ScrobinError(
            f"{where}: raw counts expected but the matrix has negative values (min {values.min():.3g}): "
            f"use a layer of raw counts ({key}) or set {subject.setting('input_state')} to scaled"
        )


def _check_labels(labels: pd.Series, subject: Subject, missing_labels: str) -> None:
    """Labels are text naming a type: no float column, no missing label (unless the spec says what
    to do with them), no two spellings of one type."""
    where, label_key = subject.where, labels.name
    if pd.api.types.is_float_dtype(labels) and not labels.isna().all():
        raise ScrobinError(
            f"{where}: obs['{label_key}'] holds floating-point numbers, not cell-type labels: "
            "point label_key at a categorical or string column"
        )
    missing = missing_label_mask(labels)
    if missing.any() and missing_labels == "refuse":
        spellings = labels[missing].astype(object).value_counts(dropna=False)
        detail = ", ".join(f"{count} {'NaN' if pd.isna(label) else repr(str(label))}" for label, count in spellings.items())
        raise ScrobinError(
            f"{where}: {int(missing.sum())} cells have no label in obs['{label_key}'] ({detail}): label them, or "
            f"set {subject.setting('missing_labels')}: drop to leave them out (keep trains them as a cell type)"
        )
    _check_label_spellings(labels[~missing], where, label_key)


def missing_label_mask(labels: pd.Series) -> np.ndarray:
    """Boolean per cell: its label is missing, as NaN or as text spelling a missing value.

    ``.astype(str)`` (the usual answer to anndata's "can't implicitly convert non-string
    objects" write error) turns NaN into ``'nan'`` and None into ``'None'``; R writes ``NA``;
    spreadsheets leave empty cells. Those spellings (``scrobin.tables.MISSING_SPELLINGS``, any
    case, surrounding spaces ignored) and whitespace-only labels are missing, computed once per
    distinct label.
    """
    codes, uniques = pd.factorize(labels, use_na_sentinel=True)
    folded = pd.Index(uniques, dtype=object).astype(str).str.strip().str.casefold()
    spells_missing = np.append(folded.isin(_MISSING_FOLDED), True)  # code -1 (NaN) indexes the last entry
    return spells_missing[codes]


def _check_label_spellings(labels: pd.Series, where: str, label_key: str) -> None:
    """Refuse labels that differ only by case or spaces: two classes for one population."""
    counts = labels.astype(str).value_counts(sort=False)
    keys = pd.Index(counts.index, dtype=object).str.split().str.join(" ").str.casefold()
    groups = counts.groupby(keys, sort=False)
    variants = [group for _, group in groups if len(group) > 1]
    if not variants:
        return
    listed = ", ".join(
        " / ".join(repr(label) for label in group.index) + f" ({' / '.join(str(n) for n in group.to_numpy())} cells)"
        for group in variants
    )
    raise ScrobinError(
        f"{where}: obs['{label_key}'] spells {len(variants)} cell type(s) in several ways: {listed}: give each type "
        f"one spelling (e.g. obs['{label_key}'].str.strip() for spaces), or relabel them with labels_file"
    )


def check_counts_are_counts(matrix, name: str, layer: str | None) -> None:
    """Refuse log-normalised values handed over as counts.

    ``adata.layers["counts"] = adata.X`` without ``.copy()`` before ``sc.pp.normalize_total`` and
    ``sc.pp.log1p`` makes the "counts" layer log-normalised too (scanpy normalises in place).
    Such a matrix has non-integer values whose ``expm1`` sums are one constant for every cell
    (the ``target_sum``); counts, ambient-corrected (SoupX, CellBender) included, vary by cell,
    so both kinds of non-integer values are told apart. Summed in blocks of cells, so a backed
    matrix is never loaded whole.

    Raises
    ------
    ScrobinError
        Naming the constant and the fix ``datasets.<name>.input_state: lognorm``.
    """
    values = matrix_values(matrix)
    if values.size == 0 or np.all(values == np.round(values)):
        return

    def expm1_sums(block):
        block = sp.csr_matrix(block, dtype=np.float64)
        with np.errstate(over="ignore"):  # counts in the thousands overflow: inf sums are not constant
            block.data = np.expm1(block.data)
        return np.asarray(block.sum(axis=1)).ravel()

    sums = map_blocks(matrix, expm1_sums)
    sums = sums[sums > 0]
    if len(sums) < 2:
        return
    middle = float(np.median(sums))
    with np.errstate(invalid="ignore"):
        constant = (sums.max() - sums.min()) / middle <= CONSTANT_SUM_SPREAD
    if not constant:
        return
    source = "X" if layer is None else f"layer '{layer}'"
    raise ScrobinError(
        f"dataset '{name}': {source} holds log-normalised values, not counts: every cell sums to {middle:,.0f} after "
        f"expm1 (as when layers['counts'] = X is set without .copy() before normalize_total and log1p): give the raw "
        f"counts, or set datasets.{name}.input_state: lognorm"
    )


def _is_empty(matrix) -> bool:
    """True when a matrix is absent or stores no value (an ``X`` left empty when counts went to ``.raw``)."""
    if matrix is None or 0 in matrix.shape:
        return True
    return matrix.nnz == 0 if sp.issparse(matrix) else not matrix_values(matrix).any()


def input_state_of(matrix, name: str | Subject, layer: str | None, input_state: str) -> tuple[str, bool]:
    """What the input matrix holds, and whether that was detected from its values.

    A declared ``layer`` holds raw counts unless ``input_state`` says otherwise: non-integer
    values there (ambient-corrected counts, e.g. from SoupX or CellBender) are still counts and
    are library-size normalised and log1p-transformed like integers. Only ``X`` with
    ``input_state: auto`` is detected from its values. ``name`` is the dataset's name or a
    :class:`Subject` (a query), for messages.

    Raises
    ------
    ScrobinError
        When the values of ``X`` fit no state; the message names the ``input_state`` setting.
    """
    if input_state != "auto":
        return input_state, False
    if layer is not None:
        return "counts", False
    subject = _subject(name)
    try:
        return detect_input_state(matrix, key=subject.setting("input_state")), True
    except ScrobinError as error:
        raise ScrobinError(f"{subject.where}: {error}") from None


def check_type_sizes(
    labels: pd.Series,
    name: str,
    min_cells_per_type: int,
    test_fraction: float,
    validation_fraction: float,
    drop_rare_types: bool,
    cells: str = "cells",
) -> list[str]:
    """Return the types too small to split; raise unless the config says to drop them.

    ``cells`` names what ``labels`` counts in messages (``training cells`` under ``split_by``).
    """
    needed = cells_needed_per_type(min_cells_per_type, test_fraction, validation_fraction)
    sizes = labels.value_counts()
    rare = sizes[sizes < needed]
    if len(rare) and not drop_rare_types:
        listing = ", ".join(f"'{t}' ({n})" for t, n in rare.items())
        n_splits = cells_needed_per_type(0, test_fraction, validation_fraction)
        if n_splits >= min_cells_per_type:
            # Lowering min_cells_per_type cannot help: every type needs a cell in each split.
            splits = ", ".join(split for split, fraction in (("train", 1), ("validation", validation_fraction),
                                                             ("test", test_fraction)) if fraction > 0)
            fewer = "set prepare.validation_fraction: 0, " if validation_fraction > 0 else ""
            fix = (
                f"each type needs one cell in each of the {n_splits} splits ({splits}): "
                f"{fewer}set prepare.drop_rare_types: true, or merge them"
            )
        else:
            fix = "set prepare.drop_rare_types: true, lower min_cells_per_type, or merge them"
        raise ScrobinError(f"dataset '{name}': cell types with fewer than {needed} {cells}: {listing}: {fix}")
    if len(sizes) - len(rare) < 2:
        raise ScrobinError(f"dataset '{name}': fewer than 2 cell types with {needed}+ {cells}: a classifier needs two or more")
    return [str(t) for t in rare.index]


def held_out_cells(obs: pd.DataFrame, name: str, split_by: dict) -> np.ndarray:
    """Boolean mask (one per cell) of the cells ``split_by`` holds out for testing.

    ``split_by`` is ``{"key": obs column, "test": [values]}``; values are compared as text, so a
    config's ``test: [2]`` matches a donor column holding ``"2"`` or ``2``.

    Raises
    ------
    ScrobinError
        When the column is missing, a value does not occur in it, or every cell is held out.
    """
    key, wanted = split_by["key"], [str(value) for value in split_by["test"]]
    setting = f"datasets.{name}.split_by"
    if key not in obs.columns:
        raise ScrobinError(f"dataset '{name}': split_by column '{key}' is not in obs (columns: "
                           f"{', '.join(map(str, obs.columns))}): fix {setting}.key")
    values = obs[key].astype(str)
    occurring = pd.unique(values)
    absent = [value for value in wanted if value not in set(occurring)]
    if absent:
        shown = ", ".join(sorted(occurring)[:20]) + (" ..." if len(occurring) > 20 else "")
        raise ScrobinError(f"dataset '{name}': split_by test values {', '.join(map(repr, absent))} do not occur in "
                           f"obs['{key}'] (values: {shown}): fix {setting}.test")
    held_out = values.isin(wanted).to_numpy()
    if held_out.all():
        raise ScrobinError(f"dataset '{name}': split_by.test holds out every cell ({', '.join(wanted)} are all the "
                           f"values of obs['{key}']): leave at least one value for training in {setting}.test")
    return held_out


def check_held_out_types(
    labels: pd.Series,
    held_out: np.ndarray,
    name: str,
    min_cells_per_type: int,
    validation_fraction: float,
    drop_rare_types: bool,
) -> list[str]:
    """Types that cannot be trained on under ``split_by``; raise unless the config says to drop them.

    A type of the held-out (test) cells that never occurs among the other cells cannot be
    predicted: the classifier has no output for it, so every such cell would count as an error
    that no model could avoid. Like a type too small to split, it stops the run unless
    ``prepare.drop_rare_types`` is set; then its cells are dropped (logged) and the shift is
    measured on the types the model knows. The types of the training cells need
    ``min_cells_per_type`` there, and one cell in validation when there is one.

    Returns
    -------
    list of str
        The types to drop: those absent from training, then those too rare in it.
    """
    train_sizes = labels[~held_out].value_counts()
    test_sizes = labels[held_out].value_counts()
    unseen = test_sizes[~test_sizes.index.isin(train_sizes.index)]
    if len(unseen) and not drop_rare_types:
        listing = ", ".join(f"'{t}' ({n} test cells)" for t, n in unseen.items())
        raise ScrobinError(
            f"dataset '{name}': cell types of the split_by test cells never occur in training: {listing}: "
            f"no model can call them: set prepare.drop_rare_types: true to drop them, or change datasets.{name}.split_by.test"
        )
    rare = check_type_sizes(labels[~held_out], name, min_cells_per_type, 0.0, validation_fraction, drop_rare_types,
                            cells="training cells (outside split_by.test)")
    return [str(t) for t in unseen.index] + rare


def split_sizes(n_cells: int, test_fraction: float, validation_fraction: float) -> tuple[int, int]:
    """Cells of one type going to test and validation: rounded, at least one each when asked for."""
    n_test = max(1, round(n_cells * test_fraction)) if test_fraction > 0 else 0
    n_val = max(1, round(n_cells * validation_fraction)) if validation_fraction > 0 else 0
    return n_test, n_val


def check_gene_selection(var: pd.DataFrame, name: str, input_state: str, settings,
                         gene_symbols: str | None = None) -> list[str]:
    """Check that a dataset can give the genes ``prepare`` is asked to select.

    Parameters
    ----------
    var
        The dataset's ``var`` (genes as index) before preprocessing.
    name
        Dataset name, for messages.
    input_state
        What the expression matrix holds (counts, lognorm or scaled; detected or declared).
    settings
        The dataset's ``prepare`` settings (``scrobin.data.datasets.prepare_settings``).
    gene_symbols
        The dataset's var column of symbols, through which ``keep_genes`` may be named.

    Returns
    -------
    list of str
        ``keep_genes`` as ``var_names`` (:func:`scrobin.data.gene_names.resolve_gene_names`:
        through ``gene_symbols`` and case where conventions differ), what ``prepare_matrix`` keeps.

    Raises
    ------
    ScrobinError
        A keep_genes name matching no gene (with what it would match) or several, or a selection
        option the data cannot serve.
    """
    where = f"dataset '{name}'"
    keep = resolve_gene_names(settings["keep_genes"], var, gene_symbols)
    problem = unmatched_message(keep, "keep_genes", name, var, gene_symbols,
                                "fix their names or remove them from keep_genes")
    if problem is not None:
        raise ScrobinError(problem)
    if settings["use_input_hvg"]:
        flags = var["highly_variable"] if "highly_variable" in var.columns else None
        if flags is None or not pd.api.types.is_bool_dtype(flags) or not flags.any():
            problem = "has no var['highly_variable'] column" if flags is None else "var['highly_variable'] flags no gene (or is not boolean)"
            raise ScrobinError(f"{where}: use_input_hvg is set but the data {problem}: set use_input_hvg: false")
        return keep.genes
    flavor = settings["hvg_flavor"]
    if flavor in COUNT_FLAVORS and input_state != "counts":
        raise ScrobinError(
            f"{where}: hvg_flavor {flavor} needs raw counts but the matrix holds {input_state} values: "
            "give a layer of raw counts (datasets.<name>.layer) or use hvg_flavor seurat"
        )
    if flavor == "seurat_v3":
        check_seurat_v3()
    return keep.genes
