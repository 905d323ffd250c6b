"""CellTypist side by side: its input, fit, storage, predictions and markers on scrobin's split.

CellTypist (Dominguez Conde et al., Science 2022; ``celltypist.train`` / ``celltypist.annotate``)
is the logistic-regression cell typer users know. scrobin fits one on exactly the training cells
of ``prepared.h5ad`` and labels the same test cells, so its accuracy sits next to the networks'.
CellTypist reads its own input, not scrobin's model input: log1p of counts normalised to 10,000
per cell over *all* genes of the source (:func:`celltypist_input`). Its decision function is
linear in the standardised input (``StandardScaler``, values above :data:`CLIP_HIGH` set to it,
then ``coef_ @ s + intercept_``, both at train and predict time: ``celltypist/train.py`` and
``celltypist/classifier.py``, version 1.7), which ``scrobin.robustness.linear_exact`` attacks
exactly from :func:`celltypist_linear_terms`.

CellTypist stores models as pickles; scrobin never unpickles a file it did not create in the same
process, so a fitted model is stored as plain arrays in an ``.npz`` (:func:`save_celltypist`) and
rebuilt as CellTypist's own ``Model`` around scikit-learn objects (:func:`load_celltypist`), which
predicts identically. CellTypist makes its home folder (model index and downloads, by default
``~/.celltypist``) when it is imported; :func:`import_celltypist` points it inside the folder the
caller gives, and training and annotating never read it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from scrobin.cells import class_names, label_codes, split_rows
from scrobin.contract import LABEL_KEY, SCROBIN_KEY, SPLIT_KEY
from scrobin.data.checks import input_matrix
from scrobin.data.chunked_io import normalize_log1p, row_blocks, stack_rows
from scrobin.data.preprocess import INPUT_STATES, detect_input_state, scaling_statistics
from scrobin.errors import ScrobinError
from scrobin.metrics import classification_metrics
from scrobin.validators import require_positive_int

log = logging.getLogger(__name__)

# CellTypist's input contract: log1p of counts normalised to this total per cell, all genes.
TARGET_SUM = 10_000.0
# CellTypist sets standardised values above this to it, at training and at prediction.
CLIP_HIGH = 10.0
# CellTypist's own tolerance on a cell's total (its check_expression): |sum(expm1(x)) - 10,000| <= 1.
TOTAL_TOLERANCE = 1.0
# Totals equal to this relative precision are one target sum (float32 rounding stays far below).
SAME_TOTAL_RTOL = 1e-3
# The environment variable CellTypist reads, once, at import to place its home folder.
HOME_VARIABLE = "CELLTYPIST_FOLDER"
# celltypist.train runs offline; with scikit-learn >= 1.8 its default LogisticRegression path fails
# (it passes the removed multi_class argument), its SGD path (log loss, one-vs-rest) works.
DEFAULT_CELLTYPIST_PARAMS = {"use_SGD": True}
MARKER_COLUMNS = ("cell_type", "gene", "score", "rank")


class CellTypistPrediction(NamedTuple):
    """CellTypist's labels of some cells (majority voting off).

    ``labels``: predicted cell type per cell (text); ``decision``: cells x classes decision scores
    (``coef_ @ s + intercept_``; for two classes CellTypist's ``[-score, score]``);
    ``probability``: cells x classes, the sigmoid of each score (one-vs-rest, rows need not sum
    to 1); ``classes``: the column order (CellTypist's ``classes_``).
    """

    labels: np.ndarray
    decision: np.ndarray
    probability: np.ndarray
    classes: np.ndarray


def import_celltypist(folder: str | Path):
    """The ``celltypist`` module, imported with its home folder inside ``folder``.

    CellTypist creates its home (``$CELLTYPIST_FOLDER``, else ``~/.celltypist``, with
    ``data/models`` for downloaded models and their index) when first imported; the variable is set
    to ``folder`` for that import only. A process that imported CellTypist before keeps the home it
    chose then: training and annotating with an in-memory ``Model`` never read it (no model name
    is ever looked up, nothing is downloaded). The import's global side effects are undone:
    CellTypist sets warning filters that silence every FutureWarning, UserWarning and
    RuntimeWarning, and configures the root logger when it has no handler.

    Raises
    ------
    ScrobinError
        When CellTypist is not installed.
    """
    if "celltypist" in sys.modules:
        return sys.modules["celltypist"]
    Path(folder).mkdir(parents=True, exist_ok=True)
    previous = os.environ.get(HOME_VARIABLE)
    os.environ[HOME_VARIABLE] = str(folder)
    root = logging.getLogger()
    # logging.basicConfig (run by celltypist.logger) does nothing while the root has a handler.
    guard = logging.NullHandler() if not root.handlers else None
    if guard is not None:
        root.addHandler(guard)
    try:
        with warnings.catch_warnings():
            # CellTypist's import trips scanpy's deprecation of __version__: noise to the user.
            warnings.simplefilter("ignore", FutureWarning)
            import celltypist
    except ImportError:
        raise ScrobinError("celltypist is not installed: pip install celltypist (a scrobin dependency)") from None
    finally:
        if previous is None:
            os.environ.pop(HOME_VARIABLE, None)
        else:
            os.environ[HOME_VARIABLE] = previous
        if guard is not None:
            root.removeHandler(guard)
    return celltypist


def celltypist_input(adata: ad.AnnData, input_state: str, layer: str | None = None, rows: np.ndarray | None = None,
                     dataset: str = "query") -> ad.AnnData:
    """CellTypist's input of some cells: log1p of counts normalised to 10,000, over all genes.

    How it is obtained, by what the cells hold (``input_state``, as ``prepare`` records it in
    ``uns["scrobin"]["transform"]``):

    - ``counts`` (``X``, the ``layer``, or ``.raw`` loaded with ``use_raw``): every gene of the
      matrix normalised to 10,000 per cell, then log1p (``scrobin.data.chunked_io.normalize_log1p``),
      not only the genes scrobin's count filter keeps;
    - ``lognorm``: used as given when every cell's total (sum of ``expm1``) is 10,000 within
      CellTypist's own tolerance of 1; rescaled to 10,000 (``expm1``, normalise, ``log1p``, exact)
      when every cell has one other total (another target sum, e.g. 1e6); used as given, with a
      log line, when the totals vary but stay below 10,000: a gene subset of log1p counts per
      10,000 over the whole transcriptome, whose full totals are lost (``pbmc68k_reduced``'s
      ``.raw``: 765 genes, totals 1,093 to 2,782);
    - ``scaled``: the log-normalised or count values in ``.raw`` (all its genes), as above.

    Parameters
    ----------
    adata
        The cells, as ``scrobin.data.datasets.load_dataset`` returns them (in memory or backed).
    input_state
        ``counts``, ``lognorm`` or ``scaled``: what ``X`` (or ``layer``) holds.
    layer
        The layer holding the input (None: ``X``).
    rows
        Positions of the cells to take, in the order wanted; all when None.
    dataset
        Name for messages.

    Returns
    -------
    anndata.AnnData
        Cells x all genes, ``X`` sparse CSR float32 in log1p units (read block by block, so a
        backed source is never loaded whole); ``obs`` of the cells; ``uns["celltypist_input"]``
        says which matrix was read and how it was normalised.

    Raises
    ------
    ScrobinError
        Scaled values without ``.raw`` (or a scaled ``.raw``), or log-normalised values that are
        not log1p of counts per 10,000 (per-cell totals above 10,000 that differ between cells).
    """
    if input_state not in INPUT_STATES:
        raise ScrobinError(f"input_state {input_state!r} is unknown: use one of {', '.join(INPUT_STATES)}")
    matrix, genes, where, state = _source_matrix(adata, input_state, layer, dataset)
    rows = np.arange(adata.n_obs) if rows is None else np.asarray(rows)
    # Blocks are read in increasing positions (backed files need it); the caller's order is restored after.
    order = np.argsort(rows, kind="stable")
    blocks = [normalize_log1p(block, TARGET_SUM) if state == "counts" else sp.csr_matrix(block, dtype=np.float32)
              for _, block in row_blocks(matrix, rows[order], what="CellTypist input")]
    restored = np.empty_like(order)
    restored[order] = np.arange(len(order))
    x = stack_rows(blocks, len(genes))[restored]
    if state == "counts":
        how = f"counts of all {len(genes)} genes normalised to {TARGET_SUM:,.0f} per cell, then log1p"
    else:
        x, how = _as_counts_per_10k(x, dataset, where)
    log.info("dataset %s: CellTypist input from %s: %s", dataset, where, how)
    return ad.AnnData(X=sp.csr_matrix(x, dtype=np.float32), obs=adata.obs.iloc[rows].copy(),
                      var=pd.DataFrame(index=pd.Index(genes, dtype=str)),
                      uns={"celltypist_input": {"matrix": where, "normalisation": how}})


def _source_matrix(adata: ad.AnnData, input_state: str, layer: str | None, dataset: str):
    """(matrix, genes, where, state) CellTypist's input is built from; .raw for scaled input."""
    if input_state != "scaled":
        return input_matrix(adata, layer), adata.var_names, "X" if layer is None else f"layer '{layer}'", input_state
    if adata.raw is None:
        raise ScrobinError(
            f"dataset '{dataset}': {'X' if layer is None else f'layer {layer!r}'} holds scaled values and there is "
            "no .raw, so CellTypist's input (log1p of counts per 10,000, all genes) cannot be rebuilt: start from "
            "raw counts (a counts layer, or use_raw) or keep log-normalised values in .raw"
        )
    try:
        state = detect_input_state(adata.raw.X, key="the values of .raw")
    except ScrobinError as error:
        raise ScrobinError(f"dataset '{dataset}': {error}") from None
    if state == "scaled":
        raise ScrobinError(f"dataset '{dataset}': X and .raw both hold scaled values, so CellTypist's input "
                           "(log1p of counts per 10,000, all genes) cannot be rebuilt: start from raw counts")
    return adata.raw.X, adata.raw.var_names, ".raw.X", state


def _as_counts_per_10k(x: sp.csr_matrix, dataset: str, where: str) -> tuple[sp.csr_matrix, str]:
    """Log-normalised cells as log1p counts per 10,000 (see :func:`celltypist_input`) and how."""
    counts = x.astype(np.float64)
    counts.data = np.expm1(counts.data)
    totals = np.asarray(counts.sum(axis=1)).ravel()
    if np.all(np.abs(totals - TARGET_SUM) <= TOTAL_TOLERANCE):
        return x, f"log1p of counts per {TARGET_SUM:,.0f}, as given"
    expressed = totals[totals > 0]
    low, high = (float(expressed.min()), float(expressed.max())) if expressed.size else (0.0, 0.0)
    if expressed.size and high - low <= SAME_TOTAL_RTOL * high:
        return normalize_log1p(counts, TARGET_SUM), f"log1p of counts per {high:,.6g}, rescaled to {TARGET_SUM:,.0f}"
    if high <= TARGET_SUM + TOTAL_TOLERANCE:
        return x, (f"as given: per-cell totals {low:,.0f} to {high:,.0f}, below {TARGET_SUM:,.0f}, read as the "
                   f"{x.shape[1]} genes kept of log1p counts per {TARGET_SUM:,.0f} over the whole transcriptome")
    raise ScrobinError(
        f"dataset '{dataset}': the log-normalised values of {where} total (after expm1) {low:,.4g} to {high:,.4g} "
        f"per cell, neither {TARGET_SUM:,.0f} nor one target sum, so they are not log1p of counts per "
        f"{TARGET_SUM:,.0f} (CellTypist's input): start from raw counts (a counts layer, or use_raw)"
    )


def prepared_celltypist_input(source: ad.AnnData, prepared: ad.AnnData) -> ad.AnnData:
    """CellTypist's input of exactly the cells of ``prepared.h5ad``, with scrobin's labels and split.

    Parameters
    ----------
    source
        The dataset as ``scrobin.data.datasets.load_dataset`` returns it for the spec it was prepared from.
    prepared
        The prepared dataset: its cells (``obs_names``, in its order), ``obs["cell_type"]``,
        ``obs["split"]`` and the input state and layer recorded in ``uns["scrobin"]["transform"]``.

    Returns
    -------
    anndata.AnnData
        :func:`celltypist_input` of the prepared cells (cells x all source genes), whose ``obs``
        holds ``cell_type`` and ``split`` of ``prepared``.

    Raises
    ------
    ScrobinError
        A prepared dataset without the transform record, a prepared cell missing from ``source``,
        or a source CellTypist's contract cannot be met for (:func:`celltypist_input`).
    """
    info = prepared.uns.get(SCROBIN_KEY, {})
    transform = info.get("transform", {})
    if "input_state" not in transform:
        raise ScrobinError(f"the prepared dataset has no uns['{SCROBIN_KEY}']['transform']['input_state']: pass the "
                           "prepared.h5ad written by the prepare rule")
    dataset = str(info.get("dataset", "?"))
    rows = source.obs_names.get_indexer(prepared.obs_names)
    if (rows < 0).any():
        missing = prepared.obs_names[rows < 0]
        raise ScrobinError(f"dataset '{dataset}': {len(missing)} prepared cells (e.g. '{missing[0]}') are not in the "
                           "source: pass the source the dataset was prepared from (load_dataset of its spec)")
    cells = celltypist_input(source, transform["input_state"], transform.get("layer"), rows, dataset)
    cells.obs = prepared.obs[[LABEL_KEY, SPLIT_KEY]].copy()
    return cells


def fit_celltypist(cells: ad.AnnData, folder: str | Path, seed: int = 0, **params: Any):
    """Train CellTypist on the training cells of :func:`prepared_celltypist_input`'s output.

    Parameters
    ----------
    cells
        CellTypist input with ``obs["cell_type"]`` and ``obs["split"]``; the cells whose split is
        ``train`` are fitted, labelled with scrobin's cell types.
    folder
        CellTypist's home folder, inside the run's folder (:func:`import_celltypist`).
    seed
        ``random_state`` of the classifier (SGD's shuffling); numpy's global generator, which
        CellTypist's mini-batch sampling draws from, is seeded with it too and restored after.
    **params
        Overrides of :data:`DEFAULT_CELLTYPIST_PARAMS`: any ``celltypist.train`` argument, and
        extra ones passed to its classifier (``SGDClassifier``). CellTypist centres, so it
        densifies the training cells (cells x genes x 8 bytes); on atlases pass ``with_mean=False``
        or its ``mini_batch`` settings.

    Returns
    -------
    celltypist.models.Model
        The fitted model (classifier and scaler); its features are the input genes expressed in
        at least one training cell.

    Raises
    ------
    ScrobinError
        No training cells, or settings ``celltypist.train`` refuses.
    """
    celltypist = import_celltypist(folder)
    train = split_rows(cells, "train")
    if train.size == 0:
        raise ScrobinError("no cell has split 'train': pass prepared_celltypist_input of a prepared dataset")
    settings = {**DEFAULT_CELLTYPIST_PARAMS, **params}
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        # CellTypist's own check reads the first cell only and refuses a gene subset; celltypist_input
        # has already checked every cell's total.
        return celltypist.train(
            sp.csr_matrix(cells.X[train]), labels=cells.obs[LABEL_KEY].astype(str).to_numpy()[train],
            genes=cells.var_names.to_numpy(), check_expression=False, random_state=seed,
            details="scrobin reference on scrobin's training cells", **settings,
        )
    except TypeError as error:
        raise ScrobinError(f"celltypist.train refused the settings ({error}): use celltypist.train or SGDClassifier "
                           "arguments, and keep use_SGD true with scikit-learn >= 1.8") from None
    finally:
        np.random.set_state(state)


def save_celltypist(model, path: str | Path) -> None:
    """Write a CellTypist model as plain arrays (coefficients, intercepts, classes, features,
    scaler mean, variance and scale, settings) to an ``.npz`` file: no pickle."""
    classifier, scaler = model.classifier, model.scaler
    params = {k: v for k, v in classifier.get_params().items() if k not in ("n_jobs", "verbose")}
    if json.loads(json.dumps(params)) != params:
        raise ScrobinError("CellTypist classifier settings do not survive JSON: use plain numbers and strings")
    np.savez(
        path,
        classifier=np.array(type(classifier).__name__),
        params=np.array(json.dumps(params)),
        coef=classifier.coef_,
        intercept=classifier.intercept_,
        classes=np.asarray(classifier.classes_, dtype=str),
        features=np.asarray(classifier.features, dtype=str),
        with_mean=np.array(bool(scaler.with_mean)),
        mean=scaler.mean_,
        var=scaler.var_,
        scale=scaler.scale_,
        description=np.array(json.dumps({k: str(v) for k, v in model.description.items()})),
    )


def load_celltypist(path: str | Path, folder: str | Path):
    """Rebuild CellTypist's ``Model`` from :func:`save_celltypist`'s file, without unpickling anything.

    ``folder`` is CellTypist's home (:func:`import_celltypist`). The classifier and scaler are
    scikit-learn's ``SGDClassifier`` (or ``LogisticRegression``) and ``StandardScaler`` with the
    stored arrays, so ``celltypist.annotate`` predicts exactly as with the fitted model.
    """
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.preprocessing import StandardScaler

    celltypist = import_celltypist(folder)
    kinds = {"SGDClassifier": SGDClassifier, "LogisticRegression": LogisticRegression}
    with np.load(path, allow_pickle=False) as stored:
        kind = str(stored["classifier"])
        if kind not in kinds:
            raise ScrobinError(f"'{path}' holds a {kind} classifier: scrobin stores SGDClassifier or "
                               "LogisticRegression; write it with save_celltypist")
        classifier = kinds[kind](**json.loads(str(stored["params"])))
        classifier.coef_, classifier.intercept_ = stored["coef"], stored["intercept"]
        classifier.classes_, classifier.features = stored["classes"], stored["features"]
        scaler = StandardScaler(with_mean=bool(stored["with_mean"]))
        scaler.mean_, scaler.var_, scaler.scale_ = stored["mean"], stored["var"], stored["scale"]
        description = json.loads(str(stored["description"]))
    classifier.n_features_in_ = scaler.n_features_in_ = classifier.coef_.shape[1]
    return celltypist.Model(classifier, scaler, description)


def predict_celltypist(model, cells: ad.AnnData, batch_size: int = 4096) -> CellTypistPrediction:
    """Label cells with ``celltypist.annotate`` (best match, majority voting off), a batch at a time.

    Parameters
    ----------
    model
        A CellTypist ``Model`` (:func:`fit_celltypist` or :func:`load_celltypist`).
    cells
        CellTypist input (:func:`celltypist_input`), cells x genes. Model genes it lacks are left
        out of the decision, as CellTypist does.
    batch_size
        Cells annotated at once: CellTypist densifies its input, so memory is about
        ``batch_size`` x genes x 8 bytes.

    Returns
    -------
    CellTypistPrediction
        Labels, decision scores and probabilities of every cell, in ``cells``' order.
    """
    import celltypist  # a Model exists, so the package was imported already, home folder and all

    batch_size = require_positive_int(batch_size, "batch_size")
    parts = []
    for start in range(0, cells.n_obs, batch_size):
        block = cells[start:start + batch_size]
        query = ad.AnnData(X=sp.csr_matrix(block.X), obs=pd.DataFrame(index=block.obs_names),
                           var=pd.DataFrame(index=block.var_names))
        parts.append(celltypist.annotate(query, model=model, majority_voting=False))
    classes = np.asarray(model.classifier.classes_)
    if not parts:
        empty = np.zeros((0, len(classes)))
        return CellTypistPrediction(np.zeros(0, dtype=str), empty, empty, classes)
    return CellTypistPrediction(
        np.concatenate([p.predicted_labels["predicted_labels"].astype(str).to_numpy() for p in parts]),
        np.concatenate([p.decision_matrix.to_numpy() for p in parts]),
        np.concatenate([p.probability_matrix.to_numpy() for p in parts]),
        classes,
    )


def celltypist_metrics(model, cells: ad.AnnData, split: str = "test") -> tuple[dict, CellTypistPrediction]:
    """Accuracy, macro-F1 and per-type F1 (``scrobin.metrics.classification_metrics``) of
    CellTypist's labels of one split's cells, over scrobin's classes, with the predictions."""
    rows = split_rows(cells, split)
    prediction = predict_celltypist(model, cells[rows])
    classes = class_names(cells)
    predicted = pd.Categorical(prediction.labels, categories=classes).codes.astype(np.int64)
    return classification_metrics(label_codes(cells)[rows], predicted, classes), prediction


def celltypist_markers(model, top_n: int | None = None, genes=None) -> pd.DataFrame:
    """Each type's genes ranked by CellTypist's ``Model.extract_top_markers`` (positive markers).

    Parameters
    ----------
    model
        A CellTypist ``Model``.
    top_n
        Genes kept per type; all when None (a full ranking, as every other ranking scrobin scores).
    genes
        Rank only these genes (e.g. scrobin's model genes, so recovery's chance baseline counts
        the same genes); every model feature when None.

    Returns
    -------
    pandas.DataFrame
        Long table :data:`MARKER_COLUMNS`: ``score`` is the gene's coefficient for the type
        (in CellTypist's standardised units; for two classes, the sign follows the type), ``rank``
        1 for the strongest marker, what ``scrobin.attribution.importance.ranked_genes`` reads.
    """
    features = pd.Index(np.asarray(model.classifier.features, dtype=str))
    coefficients = np.asarray(model.classifier.coef_)
    classes = np.asarray(model.classifier.classes_, dtype=str)
    tables = []
    for index, cell_type in enumerate(classes):
        ordered = pd.Index(np.asarray(model.extract_top_markers(cell_type, top_n=len(features)), dtype=str))
        if genes is not None:
            ordered = ordered[ordered.isin(pd.Index(genes, dtype=str))]
        ordered = ordered[:top_n]
        if len(classes) == 2:
            row = coefficients[0] if index == 1 else -coefficients[0]
        else:
            row = coefficients[index]
        tables.append(pd.DataFrame({"cell_type": cell_type, "gene": ordered,
                                    "score": row[features.get_indexer(ordered)],
                                    "rank": np.arange(1, len(ordered) + 1)}))
    return pd.concat(tables, ignore_index=True)[list(MARKER_COLUMNS)]


def celltypist_linear_terms(model) -> dict:
    """CellTypist's decision function as arrays: ``z = weight @ s + bias`` with
    ``s_g = min(clip_high, (x_g - mean_g) / scale_g)`` on its input ``x`` (log1p counts per 10,000).

    Returns
    -------
    dict
        ``weight`` (classes x features), ``bias`` (classes), ``mean`` and ``scale`` (features; the
        scaler's population mean and sd over the training cells, mean 0 without centring),
        ``clip_high`` (:data:`CLIP_HIGH`), ``genes`` (features) and ``classes``. For two classes
        CellTypist's one score becomes the rows ``[-w, w]``, as its decision matrix shows it.
    """
    coefficients = np.asarray(model.classifier.coef_, np.float64)
    intercepts = np.asarray(model.classifier.intercept_, np.float64)
    if coefficients.shape[0] == 1:
        coefficients = np.vstack([-coefficients[0], coefficients[0]])
        intercepts = np.array([-intercepts[0], intercepts[0]])
    scaler = model.scaler
    return {
        "weight": coefficients,
        "bias": intercepts,
        "mean": np.asarray(scaler.mean_, np.float64) if scaler.with_mean else np.zeros(coefficients.shape[1]),
        "scale": np.asarray(scaler.scale_, np.float64),
        "clip_high": CLIP_HIGH,
        "genes": np.asarray(model.classifier.features, dtype=str),
        "classes": np.asarray(model.classifier.classes_, dtype=str),
    }


def celltypist_gene_sd(cells: ad.AnnData, genes, split: str = "train") -> np.ndarray:
    """Standard deviation (ddof=1) of each gene's CellTypist input over one split's cells.

    The unit that converts scrobin's budget to CellTypist's input: scrobin's eps counts standard
    deviations of each gene's log-normalised expression over the training cells (its model input
    is centred and scaled by them, ``scrobin.data.preprocess.scaling_statistics``); the same
    statistic of CellTypist's input gives the box ``|delta_g| <= eps * sd_g`` in log1p-counts-per-
    10,000 units. A gene constant over the split gets 1, as in scrobin's scaling.

    Parameters
    ----------
    cells
        CellTypist input with ``obs["split"]``.
    genes
        The genes (e.g. the model's features), in the order wanted.

    Raises
    ------
    ScrobinError
        A gene the cells do not have.
    """
    columns = cells.var_names.get_indexer(pd.Index(genes, dtype=str))
    if (columns < 0).any():
        missing = np.asarray(genes)[columns < 0]
        raise ScrobinError(f"the cells lack {len(missing)} genes of the model (e.g. '{missing[0]}'): pass the "
                           "CellTypist input of the source the model was trained on")
    return scaling_statistics(sp.csr_matrix(cells.X)[:, columns], split_rows(cells, split))[1]
