"""Dataset sources: an .h5ad file, a dataset bundled with scanpy, or the simulator.

Specs are checked here (cheap, no data read) so a typo in a source stops the workflow before any
job runs; loading returns an AnnData with the labels in ``obs["cell_type"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import anndata as ad

from scrobin.contract import LABEL_KEY
from scrobin.data.h5ad_files import check_h5ad_file
from scrobin.errors import ScrobinError
from scrobin.paths import resolve_path
from scrobin.tables import read_table

BUNDLED_PREFIX = "scanpy:"
# Folders under results/ that hold cross-dataset outputs rather than a dataset.
RESERVED_NAMES = ("comparison",)
# prepare settings a dataset spec may override for itself.
PREPARE_OVERRIDES = ("min_cells_per_type", "keep_genes", "use_input_hvg")


def _pbmc68k_reduced() -> ad.AnnData:
    import scanpy as sc

    return sc.datasets.pbmc68k_reduced()


# Bundled datasets ship inside a wheel, so they work offline; each has a default label column.
BUNDLED: dict[str, tuple[Callable[[], ad.AnnData], str]] = {
    "pbmc68k_reduced": (_pbmc68k_reduced, "bulk_labels"),
}


def source_kind(source: str) -> str:
    """Classify a dataset source as ``h5ad``, ``bundled`` or ``simulate``."""
    if source == "simulate":
        return "simulate"
    if source.startswith(BUNDLED_PREFIX):
        return "bundled"
    if source.endswith(".h5ad"):
        return "h5ad"
    return "unknown"


def validate_dataset_spec(name: str, spec: Mapping, seed: int = 0, base_dir: str | Path = ".") -> dict:
    """Check one dataset spec and fill the defaults that depend on its source.

    Only the spec (and a markers file, which must parse) is read, never the data, so this is cheap
    enough to run on every invocation; marker types are checked against the labels by
    ``scrobin.preflight.check_sources``.
    A simulation without its own seed takes the workflow's ``seed``.
    """
    if name in RESERVED_NAMES:
        raise ScrobinError(f"config: dataset name '{name}' is reserved for results/{name}/: choose another name")
    spec = dict(spec)
    source = spec["source"]
    kind = source_kind(source)
    where = f"datasets.{name}"
    if kind == "unknown":
        raise ScrobinError(
            f"config: {where}.source = {source!r} is not a known source: give a path ending in .h5ad, "
            f"'{BUNDLED_PREFIX}<name>' (one of {', '.join(BUNDLED)}) or 'simulate'"
        )
    if kind == "bundled":
        bundled = source[len(BUNDLED_PREFIX):]
        if bundled not in BUNDLED:
            raise ScrobinError(
                f"config: {where}.source names unknown bundled dataset {bundled!r}: "
                f"use one of {', '.join(BUNDLED_PREFIX + b for b in BUNDLED)}"
            )
        spec.setdefault("label_key", BUNDLED[bundled][1])
    elif kind == "simulate":
        from scrobin.data.simulate import validate_simulation_params

        spec.setdefault("label_key", LABEL_KEY)
        try:
            spec["simulation"] = validate_simulation_params({"seed": seed, **spec.get("simulation", {})})
        except ScrobinError as error:
            raise ScrobinError(f"config: {where}.simulation: {error}") from None
    else:
        if "label_key" not in spec and "labels_file" not in spec:
            raise ScrobinError(
                f"config: {where} needs label_key (the obs column with cell types{_obs_columns_of(source, base_dir)}) "
                "or labels_file: add one"
            )
        spec["source"] = resolve_path(source, base_dir)
        if not (Path(base_dir) / spec["source"]).is_file():
            raise ScrobinError(f"config: {where}.source file '{source}' does not exist: fix the path")
    if kind != "simulate" and spec.get("simulation"):
        raise ScrobinError(f"config: {where}.simulation is only used with source: simulate; remove it")
    for key in ("use_raw", "gene_symbols"):
        if kind == "simulate" and spec.get(key):
            raise ScrobinError(f"config: {where}.{key} is for .h5ad and bundled sources, not simulations; remove it")
    if spec.get("use_raw") and "layer" in spec:
        raise ScrobinError(f"config: {where} sets both use_raw and layer: keep one (the matrix to start from)")
    if "labels_file" in spec:
        spec["labels_file"] = resolve_path(spec["labels_file"], base_dir)
    if "labels_file" in spec and not (Path(base_dir) / spec["labels_file"]).is_file():
        raise ScrobinError(f"config: {where}.labels_file '{spec['labels_file']}' does not exist: fix the path")
    if "markers" in spec:
        _check_markers_file(spec, where, kind, base_dir)
    if "queries" in spec:
        spec["queries"] = {query: _query_spec(query_spec, f"{where}.queries.{query}", base_dir)
                           for query, query_spec in spec["queries"].items()}
    return spec


def _query_spec(spec: Mapping, where: str, base_dir: str | Path) -> dict:
    """A query's spec with its source resolved like a dataset's; the file must exist (its cells
    are checked against the reference by ``scrobin.preflight.check_sources``)."""
    spec = dict(spec)
    spec["source"] = resolve_path(spec["source"], base_dir)
    if not (Path(base_dir) / spec["source"]).is_file():
        raise ScrobinError(f"config: {where}.source file '{spec['source']}' does not exist: fix the path")
    return spec


def _check_markers_file(spec: dict, where: str, kind: str, base_dir: str | Path) -> None:
    """The markers file exists and parses; its types are checked against the data by check_sources."""
    from scrobin.data.markers import read_markers

    if kind == "simulate":
        raise ScrobinError(f"config: {where}.markers is for real data; a simulation is scored against its own "
                           "key genes: remove markers")
    spec["markers"] = resolve_path(spec["markers"], base_dir)
    if not (Path(base_dir) / spec["markers"]).is_file():
        raise ScrobinError(f"config: {where}.markers file '{spec['markers']}' does not exist: fix the path")
    try:
        read_markers(Path(base_dir) / spec["markers"])
    except ScrobinError as error:
        raise ScrobinError(f"config: {where}.markers: {error}") from None


# Above this an .h5ad is read in blocks of cells: 1 GB holds ~100k cells of 20k genes (raw counts).
BACKED_ABOVE_BYTES = 1 << 30


def prepare_settings(spec: Mapping, params: Mapping) -> dict:
    """The ``prepare`` section as it applies to one dataset: its spec's overrides win."""
    return {**params, **{key: spec[key] for key in PREPARE_OVERRIDES if key in spec}}


def load_dataset(spec: Mapping, base_dir: str | Path = ".", name: str = "?", backed: bool | None = None) -> ad.AnnData:
    """Load the cells a validated spec names; labels stay in the spec's ``label_key`` column.

    With ``use_raw: true`` the cells come from ``.raw`` (its matrix and genes), with ``obs`` and
    ``uns`` of the file. ``name`` is the dataset's name in the config, for messages.

    An ``.h5ad`` opens backed (``anndata.read_h5ad(backed="r")``: obs, var and uns in memory, ``X``
    read in blocks by ``prepare``) when ``backed`` is True, or when None and the file is larger
    than ``BACKED_ABOVE_BYTES``; ``use_raw`` always loads the file. A file that is no readable
    ``.h5ad`` (truncated, a web page, a Cell Ranger ``.h5``) is refused first
    (:func:`scrobin.data.h5ad_files.check_h5ad_file`).
    """
    source = spec["source"]
    kind = source_kind(source)
    if kind == "simulate":
        from scrobin.data.simulate import simulate

        return simulate(**spec["simulation"])
    if kind == "bundled":
        return BUNDLED[source[len(BUNDLED_PREFIX):]][0]()
    path = Path(base_dir) / source
    check_h5ad_file(path, name)
    if backed is None:
        backed = path.stat().st_size > BACKED_ABOVE_BYTES
    adata = ad.read_h5ad(path, backed="r" if backed and not spec.get("use_raw") else None)
    if spec.get("use_raw"):
        if adata.raw is None:
            raise ScrobinError(
                f"dataset '{name}': use_raw is true but '{source}' has no .raw: remove datasets.{name}.use_raw"
            )
        adata = ad.AnnData(X=adata.raw.X, obs=adata.obs, var=adata.raw.var, uns=adata.uns)
    if "labels_file" in spec:
        attach_labels_file(adata, Path(base_dir) / spec["labels_file"], spec.get("label_key", LABEL_KEY), name)
    return adata


def attach_labels_file(adata: ad.AnnData, path: Path, label_key: str, name: str = "?") -> None:
    """Put labels from a two-column TSV (cell name, label) into ``obs[label_key]``.

    Raises
    ------
    ScrobinError
        One line naming dataset ``name`` when the file has not two columns, lists a cell twice
        (a join would repeat or pick its label silently) or lacks cells of the ``.h5ad``.
    """
    where = f"dataset '{name}': labels_file '{path}'"
    table = read_table(path, all_text=True, index_col=0)
    if table.shape[1] != 1:
        raise ScrobinError(f"{where} has {table.shape[1] + 1} columns: it must have two, cell name and label")
    table.index = table.index.astype(str)
    repeated = table.index[table.index.duplicated()].unique()
    if len(repeated):
        labels = table.iloc[:, 0]
        conflicting = int((labels.groupby(level=0).nunique() > 1).sum())
        raise ScrobinError(
            f"{where} lists {len(repeated)} cell name(s) more than once (e.g. '{repeated[0]}'; {conflicting} with "
            "different labels): deduplicate it, one row per cell"
        )
    missing = adata.obs_names.difference(table.index)
    if len(missing):
        raise ScrobinError(
            f"{where} lacks {len(missing)} of the {adata.n_obs} cells (e.g. '{missing[0]}'): "
            "give a label for every cell name in the .h5ad"
        )
    adata.obs[label_key] = table.iloc[:, 0].reindex(adata.obs_names).values


def _obs_columns_of(source: str, base_dir) -> str:
    """``"; its obs has: a, b"`` for an existing .h5ad source, so a missing label_key names the
    candidates; empty when the file cannot be read (its own check reports that)."""
    path = Path(base_dir) / resolve_path(source, base_dir)
    try:
        adata = ad.read_h5ad(path, backed="r")
    except Exception:  # a missing or unreadable file: the source checks that follow say which
        return ""
    columns = adata.obs.columns
    adata.file.close()
    return f"; its obs has: {', '.join(map(str, columns)) or 'no columns'}"
