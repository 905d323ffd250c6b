"""How large an attack can be before it visibly changes the cells (paper Fig. 1a-c), as a number.

The paper judged by eye from UMAPs that FGSM with eps 1.0-1.2 fools the classifier while the
cells still look like their type, and that eps 3.2 destroys that structure. scrobin measures it:
for each attacked cell, the fraction of its k nearest *clean* neighbours (in a PCA of the clean
cells) that share its true label, divided by the same agreement among the clean cells
themselves. A score of 1 means attacked cells sit among their own type as well as clean cells do;
scores fall towards the chance level as the attack drags cells away from their type. The cell's
own clean original is excluded from its neighbours, or a tiny attack would score perfectly for
the trivial reason that each cell's nearest neighbour is itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from torch import nn

from scrobin.attacks.specs import validate_attack_spec, validate_eps_grid
from scrobin.attacks.run import run_attack
from scrobin.cells import dense, random_subset
from scrobin.errors import ScrobinError
from scrobin.figures import save_figure
from scrobin.inference import predict_classes
from scrobin.runtime import resolve_device

# The paper's Fig. 1a-c attack: FGSM in the L-inf norm.
DEFAULT_STRUCTURE_ATTACK = {"name": "fgsm", "backend": "native", "params": {"norm": "inf"}}
EMBEDDINGS = ("umap", "pca")


@dataclass
class EpsStructure:
    """Result of :func:`eps_structure`.

    Attributes
    ----------
    table
        One row per eps: ``eps``, ``score``, ``attacked_agreement``, ``clean_agreement``,
        ``accuracy`` (of the model on the attacked cells), ``n_cells``.
    clean
        The (subsampled) clean cells that were attacked, cells x genes.
    labels
        Their true class indices.
    attacked
        eps -> adversarial versions of ``clean``, same row order.
    """

    table: pd.DataFrame
    clean: np.ndarray
    labels: np.ndarray
    attacked: dict[float, np.ndarray]


def eps_structure(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    eps_values: Sequence[float],
    attack: Mapping[str, Any] | None = None,
    n_cells: int = 1000,
    n_neighbors: int = 15,
    n_pcs: int = 50,
    device: str = "auto",
    batch_size: int = 1024,
    seed: int = 0,
) -> EpsStructure:
    """Attack a subsample of cells at each eps and score how well cell-type structure survives.

    Parameters
    ----------
    model
        The standard (undefended) classifier, moved to ``device`` in place.
    x, y
        Test cells and their class indices.
    eps_values
        Positive perturbation budgets.
    attack
        Attack spec without eps; default FGSM L-inf as in the paper.
    n_cells
        Cells drawn (seeded, without replacement) to keep neighbour search and UMAP fast.
    n_neighbors
        k of the label-kNN agreement.
    n_pcs
        PCA components (fitted on the clean subsample) in which neighbours are found.
    seed
        Subsampling, PCA and attack seed.
    """
    spec = _structure_spec(attack)
    eps_list = validate_eps_grid(eps_values, name="eps_values")
    if 0 in eps_values:
        raise ScrobinError("eps_values contain 0: give positive numbers only (eps 0 is the clean cells)")
    if not (isinstance(n_cells, int) and n_cells >= 2 and isinstance(n_neighbors, int) and n_neighbors >= 1):
        raise ScrobinError("n_cells must be an integer >= 2 and n_neighbors an integer >= 1")
    model.to(resolve_device(device))
    chosen = random_subset(x.shape[0], n_cells, np.random.default_rng(seed))
    clean = dense(x[chosen])
    labels = np.asarray(y)[chosen]
    if n_neighbors >= len(clean):
        raise ScrobinError(f"n_neighbors {n_neighbors} needs more than {len(clean)} cells: lower it or add cells")
    attacked, rows = {}, []
    for eps in eps_list:
        params = {"batch_size": batch_size, "seed": seed, **spec["params"], "eps": eps}
        attacked[eps] = np.asarray(run_attack(model, clean, labels, spec["name"], params, backend=spec["backend"]))
        score = structure_score(clean, attacked[eps], labels, n_neighbors=n_neighbors, n_pcs=n_pcs, seed=seed)
        accuracy = float(np.mean(predict_classes(model, attacked[eps]) == labels))
        rows.append({"eps": eps, **score, "accuracy": accuracy, "n_cells": len(clean)})
    return EpsStructure(pd.DataFrame(rows), clean, labels, attacked)


def _structure_spec(attack: Mapping[str, Any] | None) -> dict[str, Any]:
    spec = validate_attack_spec(DEFAULT_STRUCTURE_ATTACK if attack is None else attack)
    if "eps" in spec["params"]:
        raise ScrobinError("the structure attack sets params.eps: remove it, eps comes from eps_values")
    return spec


def structure_score(
    clean: np.ndarray,
    attacked: np.ndarray,
    labels: np.ndarray,
    n_neighbors: int = 15,
    n_pcs: int = 50,
    seed: int = 0,
) -> dict[str, float]:
    """Label-kNN agreement of attacked cells among clean cells, relative to clean cells' own.

    Returns
    -------
    ``score`` (attacked / clean agreement; 1 = structure as good as clean), ``attacked_agreement``
    and ``clean_agreement`` (mean fraction of the k clean neighbours sharing the cell's label).
    """
    n_components = max(1, min(n_pcs, clean.shape[0] - 1, clean.shape[1]))
    pca = PCA(n_components=n_components, random_state=seed).fit(clean)
    reference = pca.transform(clean)
    index = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(reference)
    own = np.arange(len(clean))
    clean_agreement = _label_agreement(index, reference, labels, own, n_neighbors)
    attacked_agreement = _label_agreement(index, pca.transform(attacked), labels, own, n_neighbors)
    return {
        "score": attacked_agreement / clean_agreement if clean_agreement > 0 else float("nan"),
        "attacked_agreement": attacked_agreement,
        "clean_agreement": clean_agreement,
    }


def _label_agreement(
    index: NearestNeighbors, query: np.ndarray, labels: np.ndarray, source: np.ndarray, n_neighbors: int
) -> float:
    """Mean fraction of each query cell's k nearest reference cells that share its label.

    The reference cell each query came from (``source``) is skipped; where it is not among the
    k + 1 found, the farthest one is dropped instead, so every cell keeps exactly k neighbours.
    """
    neighbours = index.kneighbors(query, n_neighbors=n_neighbors + 1, return_distance=False)
    keep = neighbours != source[:, None]
    keep[keep.all(axis=1), -1] = False
    kept = neighbours[keep].reshape(len(query), n_neighbors)
    return float(np.mean(labels[kept] == labels[:, None]))


def largest_structured_eps(table: pd.DataFrame, threshold: float = 0.9) -> float | None:
    """The largest eps up to which the structure score stays at or above ``threshold``.

    Scores are read in increasing eps; the first eps that falls below the threshold ends the run,
    so a noisy recovery at a larger eps does not count. ``None`` when even the smallest eps fails.
    """
    largest = None
    for eps, score in table.sort_values("eps")[["eps", "score"]].itertuples(index=False):
        if not score >= threshold:
            break
        largest = float(eps)
    return largest


def figure_eps(eps_grid: Sequence[float], chosen: float | None, panels: int) -> list[float]:
    """At most ``panels`` eps of the grid to draw, spread from smallest to largest, always
    including ``chosen`` (the attack budget) when it is in the grid.

    Each drawn eps costs one embedding (UMAP), while scoring every eps of a fine grid is cheap.
    """
    grid = sorted(float(eps) for eps in eps_grid)
    if len(grid) <= panels:
        return grid
    picked = {grid[int(round(i))] for i in np.linspace(0, len(grid) - 1, panels)}
    if chosen is not None and float(chosen) in grid and float(chosen) not in picked:
        # Swap out the drawn eps nearest to the chosen one, keeping the two ends of the grid.
        inner = sorted(picked - {grid[0], grid[-1]}, key=lambda eps: abs(np.log(eps / chosen)))
        picked.discard(inner[0] if inner else grid[-1])
        picked.add(float(chosen))
    return sorted(picked)


def embed(cells: np.ndarray, method: str = "umap", n_neighbors: int = 15, n_pcs: int = 50, seed: int = 0) -> np.ndarray:
    """Two-dimensional, seeded embedding of cells: UMAP of their PCA, or the first two PCs."""
    if method not in EMBEDDINGS:
        raise ScrobinError(f"embedding {method!r} is unknown: use one of {', '.join(EMBEDDINGS)}")
    n_components = max(2, min(n_pcs, cells.shape[0] - 1, cells.shape[1]))
    reduced = PCA(n_components=n_components, random_state=seed).fit_transform(cells)
    if method == "pca":
        return reduced[:, :2]
    import umap

    # Exact neighbours from scikit-learn (BLAS): for fewer than 4,096 cells UMAP computes them by
    # calling a numba distance once per pair and compiles its kNN kernel in every process, about
    # 6 CPU s of an eps_structure job's four embeddings.
    distances, indices = NearestNeighbors(n_neighbors=n_neighbors).fit(reduced).kneighbors(reduced)
    with warnings.catch_warnings():
        # A fixed random_state makes UMAP single-threaded and it says so on every call.
        warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
        # Without a search index UMAP cannot embed new cells later (transform); none are.
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]", category=UserWarning)
        return umap.UMAP(
            n_neighbors=n_neighbors, random_state=seed, precomputed_knn=(indices, distances.astype(np.float32))
        ).fit_transform(reduced)


def plot_eps_structure(
    result: EpsStructure,
    path: str | Path,
    method: str = "umap",
    class_names: Sequence[str] | None = None,
    n_neighbors: int = 15,
    seed: int = 0,
    eps_shown: Sequence[float] | None = None,
    chosen: float | None = None,
) -> Figure:
    """Grid of joint embeddings of clean and attacked cells, one column per eps (paper Fig. 1a-c).

    Clean and attacked cells of an eps are embedded together, so the top (clean) and bottom
    (attacked) panels of a column share coordinates; colours are true cell types and titles carry
    the structure score and the accuracy under attack. ``method`` is ``umap`` or ``pca``;
    ``n_neighbors`` is UMAP's neighbourhood size. ``eps_shown`` limits the columns (default: every
    eps attacked); the column of ``chosen``, the attack budget in use, is marked in its title.
    """
    eps_list = sorted(result.attacked if eps_shown is None else eps_shown)
    names = list(class_names) if class_names is not None else [str(c) for c in range(result.labels.max() + 1)]
    palette = type_colours(len(names))
    colours = palette[result.labels]
    figure = Figure(figsize=(3.4 * len(eps_list), 6.6), layout="constrained")
    axes = figure.subplots(2, len(eps_list), squeeze=False)
    scores = result.table.set_index("eps")
    for column, eps in enumerate(eps_list):
        cells = np.vstack([result.clean, result.attacked[eps]])
        joint = embed(cells, method=method, n_neighbors=n_neighbors, seed=seed)
        halves = {"clean": joint[: len(result.clean)], "attacked": joint[len(result.clean):]}
        for row, (kind, points) in enumerate(halves.items()):
            axis = axes[row, column]
            axis.scatter(joint[:, 0], joint[:, 1], s=3, c=OTHER_HALF_COLOUR, linewidths=0)
            axis.scatter(points[:, 0], points[:, 1], s=4, c=colours, linewidths=0)
            axis.set_xticks([])
            axis.set_yticks([])
            marker = " (attack budget)" if chosen is not None and eps == chosen and kind == "clean" else ""
            axis.set_title(f"eps {eps:g}{marker}: {kind}" + _score_caption(scores, eps, kind), fontsize=9)
    handles = [
        axes[0, 0].scatter([], [], s=12, color=palette[code], label=name) for code, name in enumerate(names)
    ] + [axes[0, 0].scatter([], [], s=12, color=OTHER_HALF_COLOUR, label="the other half of the\njoint embedding")]
    figure.legend(handles=handles, loc="outside right center", frameon=False, fontsize=8, title="cell type")
    save_figure(figure, path, tight=False)
    return figure


# The cells of the other panel (clean under attacked, attacked under clean), drawn behind the
# panel's own cells; no cell type's colour is grey (type_colours), so it is never mistaken for one.
OTHER_HALF_COLOUR = "0.85"


def type_colours(n_types: int) -> np.ndarray:
    """One RGBA colour per cell type (n_types x 4), none of them grey: tab20 without its two greys,
    then evenly spaced hues when there are more types than its 18 colours."""
    tab20 = colormaps["tab20"](np.arange(20))
    palette = np.delete(tab20, [14, 15], axis=0)
    if n_types <= len(palette):
        return palette[:max(n_types, 1)]
    return colormaps["hsv"](np.linspace(0, 1, n_types, endpoint=False))


def _score_caption(scores: pd.DataFrame, eps: float, kind: str) -> str:
    if kind == "clean":
        return ""
    return f"\nscore {scores.loc[eps, 'score']:.2f}, accuracy {scores.loc[eps, 'accuracy']:.2f}"
