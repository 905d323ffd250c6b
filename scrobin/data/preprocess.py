"""From the input matrix to the model input, recording every step so it can be replayed.

Input may hold raw counts, log-normalised values or already scaled values (pbmc68k_reduced is
scaled); only the steps still missing are applied. The transform dict stored in
``uns["scrobin"]["transform"]`` is all ``apply_transform`` needs to map new cells into exactly the
space the model was trained in.
"""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from scrobin.data.chunked_io import (
    gene_totals,
    highly_variable_from_moments,
    hvg_moments,
    in_memory,
    lognorm_rows,
    map_blocks,
    matrix_values,
    normalize_log1p,
    row_blocks,
)
from scrobin.errors import ScrobinError

log = logging.getLogger(__name__)

INPUT_STATES = ("counts", "lognorm", "scaled")
# scanpy's highly-variable flavours that model raw counts (the ones it recommends for counts).
COUNT_FLAVORS = ("seurat_v3", "pearson_residuals")
# log1p(counts per 10k) stays far below this; larger non-integer values mean another scale.
LOGNORM_MAX = 50.0
# Transform keys holding the symbols of its gene lists, recorded when the dataset names a
# gene_symbols column, so cells named by symbols can be replayed (scrobin.data.query).
SYMBOLS_OF = {"genes": "gene_symbols", "counted_genes": "counted_gene_symbols"}


def detect_input_state(matrix, max_values: int = 2_000_000, key: str = "input_state") -> str:
    """Tell raw counts, log-normalised and scaled values apart from the values themselves.

    Negative values only arise from centring (scaled); non-negative integers are counts; small
    non-negative non-integers are log-normalised. Anything else is ambiguous and must be declared
    under ``key`` (the config key the error message names).
    """
    values = matrix_values(matrix).ravel()
    if values.size > max_values:
        values = values[np.linspace(0, values.size - 1, max_values).astype(np.int64)]
    if values.size == 0:
        raise ScrobinError("the expression matrix is empty: provide cells with measured genes")
    if values.min() < 0:
        return "scaled"
    if np.all(values == np.round(values)):
        return "counts"
    if values.max() <= LOGNORM_MAX:
        return "lognorm"
    raise ScrobinError(
        f"the matrix holds non-integer values up to {values.max():.3g}: neither raw counts nor log-normalised: "
        f"set {key}: counts if they are (e.g. ambient-corrected) counts, else lognorm or scaled"
    )


def counted_genes(matrix, min_gene_counts: float, always: np.ndarray | None = None,
                  rows: np.ndarray | None = None) -> np.ndarray:
    """Indices of the genes with at least ``min_gene_counts`` counts summed over the cells
    ``rows`` (all when None), plus those flagged in ``always`` (one boolean per gene:
    ``prepare.keep_genes``). Summed block by block, so a backed matrix is never loaded whole.

    Raises
    ------
    ScrobinError
        When no gene has that many counts.
    """
    totals = gene_totals(matrix, rows, what="gene totals")
    kept = np.flatnonzero((totals >= min_gene_counts) | (False if always is None else always))
    if kept.size == 0:
        raise ScrobinError(f"no gene has {min_gene_counts} or more counts: lower prepare.min_gene_counts")
    return kept


def cells_passing_qc(matrix, state: str, params: dict) -> np.ndarray:
    """Boolean mask (one per cell) of the cells quality control keeps, as ``sc.pp.filter_cells``.

    Counted after gene filtering (``min_gene_counts``), so a cell whose only counts are in
    filtered-out genes is empty. Raw counts need ``prepare.min_cell_counts`` counts and
    ``prepare.min_cell_genes`` expressed genes; log-normalised input only the genes (its sums are
    no counts); scaled input keeps every cell, since centring hides which cells are empty.
    """
    if state == "scaled":
        return np.ones(matrix.shape[0], dtype=bool)
    import scanpy as sc

    genes = counted_genes(matrix, params["min_gene_counts"]) if state == "counts" else slice(None)

    def passing(block):
        block = block[:, genes]
        keep = sc.pp.filter_cells(block, min_genes=params["min_cell_genes"], inplace=False)[0]
        if state == "counts":
            keep &= sc.pp.filter_cells(block, min_counts=params["min_cell_counts"], inplace=False)[0]
        return keep

    return map_blocks(matrix, passing, what="quality control").astype(bool)


def select_highly_variable(lognorm, gene_names: pd.Index, n_top_genes: int, flavor: str,
                           counts=None) -> np.ndarray:
    """Indices (in input order) of the top ``n_top_genes`` highly variable genes; all if fewer.

    Parameters
    ----------
    lognorm
        Cells x genes log-normalised values, used by the ``seurat`` and ``cell_ranger`` flavours.
    gene_names
        Names of the columns.
    n_top_genes
        Genes selected.
    flavor
        ``seurat`` or ``cell_ranger`` (dispersion of log-normalised values); ``seurat_v3``
        (``sc.pp.highly_variable_genes``, needs scikit-misc) or ``pearson_residuals``
        (``sc.experimental.pp.highly_variable_genes``), which model raw ``counts``.
    counts
        Cells x genes raw counts of the same genes; required by the count flavours.

    Raises
    ------
    ScrobinError
        A count flavour without raw counts, or ``seurat_v3`` without scikit-misc installed.
    """
    if lognorm.shape[1] <= n_top_genes:
        return np.arange(lognorm.shape[1])
    import scanpy as sc

    if flavor not in COUNT_FLAVORS:
        scratch = ad.AnnData(X=lognorm, var=pd.DataFrame(index=gene_names))
        sc.pp.highly_variable_genes(scratch, n_top_genes=n_top_genes, flavor=flavor)
        return np.flatnonzero(scratch.var["highly_variable"].to_numpy())
    if counts is None:
        raise ScrobinError(f"hvg_flavor {flavor} needs raw counts but the input holds none: start "
                           f"from a counts layer or use hvg_flavor seurat")
    scratch = ad.AnnData(X=counts, var=pd.DataFrame(index=gene_names))
    if flavor == "seurat_v3":
        check_seurat_v3()
        sc.pp.highly_variable_genes(scratch, n_top_genes=n_top_genes, flavor="seurat_v3")
    else:
        sc.experimental.pp.highly_variable_genes(scratch, n_top_genes=n_top_genes,
                                                 flavor="pearson_residuals")
    return np.flatnonzero(scratch.var["highly_variable"].to_numpy())


def check_seurat_v3() -> None:
    """scanpy's seurat_v3 flavour fits a loess curve from scikit-misc; say so before it fails."""
    import importlib.util

    if importlib.util.find_spec("skmisc") is None:
        raise ScrobinError("hvg_flavor seurat_v3 needs the scikit-misc package: pip install "
                           "scikit-misc, or use hvg_flavor pearson_residuals")


def select_by_variance(matrix, n_top_genes: int) -> np.ndarray:
    """Fallback selection for already scaled input, where dispersion cannot be recomputed."""
    if matrix.shape[1] <= n_top_genes:
        return np.arange(matrix.shape[1])
    dense = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
    top = np.argsort(-dense.var(axis=0), kind="stable")[:n_top_genes]
    return np.sort(top)


def scaling_statistics(matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and std (ddof=1, as scanpy) over the given rows; constant genes get std 1.

    Accumulated over blocks of ``rows`` (increasing positions) with scikit-learn's
    ``incr_mean_variance_axis``, sparse staying sparse, so fitting the scaling of a million cells
    never holds them dense nor copies the training split.
    """
    from sklearn.utils.sparsefuncs import incr_mean_variance_axis

    mean, variance, n = np.zeros(matrix.shape[1]), np.zeros(matrix.shape[1]), np.zeros(matrix.shape[1])
    for _, block in row_blocks(matrix, np.sort(rows), what="scaling statistics"):
        block = sp.csr_matrix(block, dtype=np.float64)
        mean, variance, n = incr_mean_variance_axis(block, axis=0, last_mean=mean, last_var=variance, last_n=n)
    n = len(rows)
    std = np.sqrt(variance * n / (n - 1)) if n > 1 else np.ones_like(mean)
    std[~(std > 0)] = 1.0
    return np.asarray(mean, np.float64), np.asarray(std, np.float64)


def prepare_matrix(matrix, gene_names: pd.Index, state: str, fit_rows: np.ndarray, params: dict,
                   input_hvg: np.ndarray | None = None, rows: np.ndarray | None = None):
    """Apply the missing steps to ``matrix``; return (X, lognorm matrix or None, transform).

    ``X`` is the model input, except when the transform scales: then it is the log-normalised
    matrix of the model genes (sparse stays sparse) and the scaling, recorded in the transform,
    is applied per batch by :func:`apply_scaling` (``scrobin.data.model_input.model_input``).

    Gene filtering and HVG selection are unsupervised and use all cells (as the paper does);
    scaling statistics come from ``fit_rows`` (the training cells, positions among the prepared
    cells) so nothing of the test split leaks into the transform. Genes come from the HVG
    selection (``hvg_flavor``, or the input's own flags ``input_hvg`` when
    ``params["use_input_hvg"]``) plus ``params["keep_genes"]``, which pass the count filter and
    the selection whatever their counts or variance.

    A backed matrix (``anndata.read_h5ad(backed="r")``) is read in blocks of cells
    (``scrobin.data.chunked_io``): gene totals, HVG moments and the log-normalised model genes of the
    cells ``rows`` (increasing positions; all when None) are accumulated block by block, and only
    ``X`` (sparse, model genes) is held whole. An in-memory matrix holds exactly the cells to
    prepare (``rows`` None).

    Raises
    ------
    ScrobinError
        A backed matrix with a count HVG flavour (``seurat_v3``, ``pearson_residuals``), which
        needs the whole count matrix in memory.
    """
    transform: dict = {"input_state": state, "steps": []}
    always = gene_names.isin(params["keep_genes"])
    backed = not in_memory(matrix)
    source, source_genes, target_sum = matrix, np.arange(len(gene_names)), None
    counts = None
    if state == "counts":
        kept = counted_genes(matrix, params["min_gene_counts"], always, rows)
        gene_names, always = gene_names[kept], always[kept]
        input_hvg = None if input_hvg is None else input_hvg[kept]
        transform["steps"] += ["filter_genes", "normalize_total", "log1p"]
        transform.update(
            min_gene_counts=params["min_gene_counts"],
            counted_genes=list(gene_names),
            target_sum=params["target_sum"],
        )
        source_genes, target_sum = kept, params["target_sum"]
        if not backed:
            counts = matrix[:, kept]
            matrix = normalize_log1p(counts, target_sum)
        state = "lognorm"
    lognorm = matrix if state == "lognorm" and not backed else None
    if params["use_input_hvg"]:
        selected = np.flatnonzero(input_hvg)
        transform["steps"].append("input_highly_variable")
    elif state == "lognorm":
        if backed:
            selected = _backed_highly_variable(source, rows, source_genes, target_sum, params)
        else:
            selected = select_highly_variable(matrix, gene_names, params["n_top_genes"], params["hvg_flavor"], counts)
        transform["steps"].append("highly_variable_genes")
        transform.update(n_top_genes=params["n_top_genes"], hvg_flavor=params["hvg_flavor"])
    else:
        if backed:
            variance = hvg_moments(source, rows, source_genes, None, "variance", what="gene variances")[1]
            selected = np.sort(np.argsort(-variance, kind="stable")[:params["n_top_genes"]])
        else:
            selected = select_by_variance(matrix, params["n_top_genes"])
        transform["steps"].append("top_variance_genes")
        transform["n_top_genes"] = params["n_top_genes"]
    if always.any():
        transform["keep_genes"] = list(gene_names[always])
        log.info("%d of the %d keep_genes were not selected and are kept anyway",
                 int(np.setdiff1d(np.flatnonzero(always), selected).size), int(always.sum()))
        selected = np.union1d(selected, np.flatnonzero(always))
    if backed:
        matrix = lognorm_rows(source, rows, source_genes, target_sum, selected, what="model genes")
        matrix = matrix.toarray() if state == "scaled" else matrix
    else:
        matrix = matrix[:, selected]
    gene_names = gene_names[selected]
    lognorm = None if lognorm is None else lognorm[:, selected]
    transform["genes"] = list(gene_names)
    if state == "lognorm" and params["scale"]:
        mean, std = scaling_statistics(matrix, fit_rows)
        transform["steps"].append("scale")
        transform.update(scale_mean=mean, scale_std=std)
        if params["scale_max_value"] is not None:
            transform["scale_max_value"] = params["scale_max_value"]
    if backed and state == "lognorm" and "scale" not in transform["steps"]:
        lognorm = matrix  # X holds it, as in memory
    return _as_float32(matrix), lognorm, transform


def _backed_highly_variable(matrix, rows, genes: np.ndarray, target_sum: float | None, params: dict) -> np.ndarray:
    """HVG selection of a backed matrix from moments accumulated in blocks (seurat, cell_ranger)."""
    flavor, n_top_genes = params["hvg_flavor"], params["n_top_genes"]
    if flavor in COUNT_FLAVORS:
        raise ScrobinError(f"hvg_flavor {flavor} needs the whole count matrix in memory, which this file is too "
                           f"large for: use hvg_flavor seurat or cell_ranger (computed in blocks of cells)")
    if len(genes) <= n_top_genes:
        return np.arange(len(genes))
    mean, variance = hvg_moments(matrix, rows, genes, target_sum, flavor, what="highly variable genes")
    return highly_variable_from_moments(mean, variance, n_top_genes, flavor)


def _scale(matrix, transform: dict) -> np.ndarray:
    dense = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix, dtype=np.float64)
    scaled = (dense - transform["scale_mean"]) / transform["scale_std"]
    if transform.get("scale_max_value") is not None:
        np.clip(scaled, -transform["scale_max_value"], transform["scale_max_value"], out=scaled)
    return scaled


def _as_float32(matrix):
    return sp.csr_matrix(matrix, dtype=np.float32) if sp.issparse(matrix) else np.ascontiguousarray(matrix, np.float32)


def _columns(matrix, wanted: list[str], available: pd.Index, what: str, missing_genes: str):
    """Columns ``wanted`` of ``matrix`` (named ``available``), in that order.

    A wanted gene absent from ``available`` stops the replay (``missing_genes`` ``refuse``) or is
    a column of zeros (``neutral``; :func:`apply_transform` then gives it its final value).
    """
    positions = available.get_indexer(wanted)
    present = positions >= 0
    if present.all():
        return matrix[:, positions]
    if missing_genes == "refuse":
        missing = [g for g, p in zip(wanted, positions) if p < 0]
        raise ScrobinError(
            f"the new cells lack {len(missing)} of the {len(wanted)} {what} (e.g. '{missing[0]}'): "
            "they must be measured on the genes the model was trained on"
        )
    # A 0/1 selection matrix places each present gene in its column and leaves the absent ones at
    # 0, sparse and dense alike, without densifying a sparse query.
    selection = sp.csr_matrix(
        (np.ones(int(present.sum()), np.float32), (positions[present], np.flatnonzero(present))),
        shape=(matrix.shape[1], len(wanted)),
    )
    return matrix @ selection


MISSING_GENE_RULES = ("refuse", "neutral")


def absent_genes(gene_names, transform: dict) -> dict[str, list[str]]:
    """The transform's genes that ``gene_names`` lacks: ``{"genes": model genes, "counted_genes":
    genes of the library size}`` (the latter empty when the transform does not normalise)."""
    names = pd.Index(gene_names)
    return {key: [g for g in transform.get(key, []) if g not in names] for key in ("genes", "counted_genes")}


def missing_gene_rule(transform: dict) -> str:
    """What :func:`apply_transform` with ``missing_genes="neutral"`` makes of missing genes under
    ``transform``, in one sentence for an output's record."""
    steps = transform["steps"]
    if "scale" in steps:
        rule = "a missing model gene is 0 in the model input: its training mean, in scaled units"
    elif transform["input_state"] == "scaled":
        rule = "a missing model gene is 0 in the model input: the mean of the query's own scaled values"
    else:
        rule = "a missing model gene is 0 in the model input: not detected (the transform records no mean)"
    if "normalize_total" in steps:
        rule += "; a missing counted gene adds no counts to the library size"
    return rule


def apply_transform(matrix, gene_names, transform: dict, missing_genes: str = "refuse"):
    """Map new cells (same input state as the training data) into the model's input space.

    Parameters
    ----------
    matrix
        Cells x genes, dense or sparse, in the ``input_state`` the transform was fitted on.
    gene_names
        Names of ``matrix``'s columns (unique); they are matched by name, so order does not matter
        and genes the model does not use are ignored.
    transform
        ``uns["scrobin"]["transform"]`` of a prepared dataset (or a model's metadata).
    missing_genes
        ``refuse`` (the default: the reference's own cells have every gene): a counted or model
        gene absent from ``gene_names`` raises. ``neutral``: replay on cells measured on other
        genes (a query, ``scrobin.data.query``), the one place this rule is defined:

        * a counted gene it lacks contributes no counts to the library size, which is then the
          sum over the shared counted genes. Where the missing genes held a share ``s`` of a
          cell's counts, its other genes read ``1 / (1 - s)`` times higher before log1p, as if
          the cell were sequenced that much deeper (``s`` is unknown for the query, so the share
          of counted genes missing is reported instead);
        * a model gene it lacks is 0 in the model input. With a ``scale`` step that is the gene's
          training mean (scaled units), and with scaled input the query's own mean: the value
          that moves no cell towards any type. Without a ``scale`` step the transform records no
          mean, and 0 reads as "not detected".

    Returns
    -------
    Cells x model genes, float32; dense when the transform scales, else sparse CSR when the input
    is sparse.

    Raises
    ------
    ScrobinError
        A gene is missing and ``missing_genes`` is ``refuse``; an unknown ``missing_genes``.
    """
    if missing_genes not in MISSING_GENE_RULES:
        raise ScrobinError(f"missing_genes '{missing_genes}' is unknown: use one of {', '.join(MISSING_GENE_RULES)}")
    gene_names = pd.Index(gene_names)
    absent_model_genes = ~pd.Index(transform["genes"]).isin(gene_names)
    steps = transform["steps"]
    if "normalize_total" in steps:
        matrix = _columns(matrix, transform["counted_genes"], gene_names, "counted genes", missing_genes)
        matrix = normalize_log1p(matrix, transform["target_sum"])
        gene_names = pd.Index(transform["counted_genes"])
    matrix = _columns(matrix, transform["genes"], gene_names, "model genes", missing_genes)
    if "scale" in steps:
        scaled = apply_scaling(matrix, transform)
        scaled[:, absent_model_genes] = 0.0
        return scaled
    return _as_float32(matrix)


def apply_scaling(matrix, transform: dict) -> np.ndarray:
    """Centre and scale cells x model genes as the transform records (clipping if it does).

    The last step of :func:`apply_transform`, and what ``scrobin.data.model_input.ModelInput``
    applies to each batch read from a prepared dataset's log-normalised ``X``.

    Returns
    -------
    Cells x genes, dense float32 (scaling turns every zero into ``-mean/std``).
    """
    return _as_float32(_scale(matrix, transform))
