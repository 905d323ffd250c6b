"""Checks on loaded cells, run before any preprocessing so bad data fails in one line.

Every check names the dataset, the problem and the fix; internals after these checks trust
their input (as scikit-learn's ``check_array`` boundary does).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from scrobin.errors import ScrobinError


def matrix_values(matrix) -> np.ndarray:
    """The stored values of a dense or sparse matrix (zeros of sparse matrices excluded)."""
    return matrix.data if sp.issparse(matrix) else np.asarray(matrix)


def input_matrix(adata: ad.AnnData, layer: str | None):
    """The matrix preprocessing starts from: ``X`` or the named layer."""
    return adata.X if layer is None else adata.layers[layer]


def cells_needed_per_type(min_cells_per_type: int, test_fraction: float, validation_fraction: float) -> int:
    """Fewest cells a type may have: the configured minimum, and one per split it is divided into."""
    n_splits = 1 + (test_fraction > 0) + (validation_fraction > 0)
    return max(min_cells_per_type, n_splits)


def check_cells(adata: ad.AnnData, name: str, label_key: str, layer: str | None, input_state: str) -> None:
    """Check names, labels and values of a dataset; raise ``ScrobinError`` on the first problem."""
    where = f"dataset '{name}'"
    if layer is not None and layer not in adata.layers:
        layers = ", ".join(adata.layers.keys()) or "none"
        raise ScrobinError(f"{where}: layer '{layer}' does not exist (layers: {layers}): fix datasets.{name}.layer")
    if label_key not in adata.obs.columns:
        raise ScrobinError(
            f"{where}: label column '{label_key}' is not in obs (columns: {', '.join(map(str, adata.obs.columns))}): "
            f"set datasets.{name}.label_key to one of them"
        )
    for axis, names in (("cell", adata.obs_names), ("gene", adata.var_names)):
        duplicated = names[names.duplicated()]
        if len(duplicated):
            raise ScrobinError(
                f"{where}: {len(duplicated)} duplicated {axis} names (e.g. '{duplicated[0]}'): make them unique, "
                f"e.g. adata.{'obs' if axis == 'cell' else 'var'}_names_make_unique()"
            )
    labels = adata.obs[label_key]
    if labels.isna().any():
        raise ScrobinError(
            f"{where}: {int(labels.isna().sum())} cells have no label in obs['{label_key}']: "
            "label them or remove them before running"
        )
    if pd.api.types.is_float_dtype(labels):
        raise ScrobinError(
            f"{where}: obs['{label_key}'] holds floating-point numbers, not cell-type labels: "
            "point label_key at a categorical or string column"
        )
    matrix = input_matrix(adata, layer)
    values = matrix_values(matrix)
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
        raise ScrobinError(f"{where}: the expression matrix has dtype {values.dtype}, not numbers: store numeric values")
    if not np.all(np.isfinite(values)):
        n_bad = int(np.size(values) - np.isfinite(values).sum())
        raise ScrobinError(f"{where}: the expression matrix has {n_bad} NaN or infinite values: remove or impute them")
    counts_expected = input_state == "counts" or (layer is not None and input_state == "auto")
    if counts_expected and values.size and values.min() < 0:
        raise ScrobinError(
            f"{where}: raw counts expected but the matrix has negative values (min {values.min():.3g}): "
            "use a layer of raw counts or set input_state to scaled"
        )


def check_type_sizes(
    labels: pd.Series,
    name: str,
    min_cells_per_type: int,
    test_fraction: float,
    validation_fraction: float,
    drop_rare_types: bool,
) -> list[str]:
    """Return the types too small to split; raise unless the config says to drop them."""
    needed = cells_needed_per_type(min_cells_per_type, test_fraction, validation_fraction)
    sizes = labels.value_counts()
    rare = sizes[sizes < needed]
    if len(rare) and not drop_rare_types:
        listing = ", ".join(f"'{t}' ({n})" for t, n in rare.items())
        raise ScrobinError(
            f"dataset '{name}': cell types with fewer than {needed} cells: {listing}: "
            "set prepare.drop_rare_types: true, lower min_cells_per_type, or merge them"
        )
    if len(sizes) - len(rare) < 2:
        raise ScrobinError(f"dataset '{name}': fewer than 2 cell types with {needed}+ cells: a classifier needs two or more")
    return [str(t) for t in rare.index]


def split_sizes(n_cells: int, test_fraction: float, validation_fraction: float) -> tuple[int, int]:
    """Cells of one type going to test and validation: rounded, at least one each when asked for."""
    n_test = max(1, round(n_cells * test_fraction)) if test_fraction > 0 else 0
    n_val = max(1, round(n_cells * validation_fraction)) if validation_fraction > 0 else 0
    return n_test, n_val



def _check_key(name: str, spec, params, seed: int, base_dir) -> str | None:
    """Cache key of a source check: the files' identities plus everything the check reads."""
    from scrobin.datasets import source_kind

    kind = source_kind(spec["source"])
    if kind == "simulate":
        return None
    files = ([spec["source"]] if kind == "h5ad" else []) + [spec[key] for key in ("labels_file", "markers") if key in spec]
    stamp: dict = {"name": name, "spec": spec, "params": params, "seed": seed, "files": []}
    for file in files:
        path = Path(base_dir) / file
        info = path.stat()
        stamp["files"].append([str(path.resolve()), info.st_size, info.st_mtime_ns])
    return hashlib.sha256(json.dumps(stamp, sort_keys=True, default=str).encode()).hexdigest()[:24]


def check_sources(config, cache_dir, base_dir=".") -> None:
    """Check every dataset's cells before any job runs, remembering files already checked.

    The workflow calls this while building the DAG, so bad data stops it before a job starts and
    before anything computed is touched. A passed check is recorded under ``cache_dir`` keyed by
    the file's path, size and modification time, so large files are read once, not on every run.
    Simulations are valid by construction and only have their parameters checked.
    """
    from scrobin.datasets import load_dataset
    from scrobin.markers import check_marker_types, read_markers

    cache = Path(cache_dir)
    for name, spec in config["datasets"].items():
        key = _check_key(name, spec, config["prepare"], config["seed"], base_dir)
        if key is None or (cache / key).exists():
            continue
        adata = load_dataset(spec, base_dir=base_dir)
        params = config["prepare"]
        check_cells(adata, name, spec["label_key"], spec.get("layer"), spec.get("input_state", "auto"))
        check_type_sizes(
            adata.obs[spec["label_key"]].astype(str),
            name,
            spec.get("min_cells_per_type", params["min_cells_per_type"]),
            params["test_fraction"],
            params["validation_fraction"],
            params["drop_rare_types"],
        )
        if "markers" in spec:
            check_marker_types(read_markers(Path(base_dir) / spec["markers"]), adata.obs[spec["label_key"]].astype(str),
                               name, spec["markers"])
        cache.mkdir(parents=True, exist_ok=True)
        (cache / key).write_text(name + "\n")
