"""The eps-structure score: 1 for harmless attacks, low for destructive ones; the figure; the cut-off."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from test_attacks import toy_problem

from scrobin.errors import ScrobinError
from scrobin.robustness.eps_structure import (
    embed,
    eps_structure,
    largest_structured_eps,
    plot_eps_structure,
    structure_score,
)

EPS_VALUES = [0.01, 3.0]


@pytest.fixture(scope="module")
def result():
    cells, labels, model = toy_problem()
    return eps_structure(model, cells, labels, EPS_VALUES, n_cells=300, n_neighbors=10, n_pcs=20, device="cpu")


def test_score_is_near_one_for_tiny_eps_and_low_for_huge_eps(result):
    table = result.table.set_index("eps")
    assert list(result.table.columns) == [
        "eps", "score", "attacked_agreement", "clean_agreement", "accuracy", "n_cells",
    ]
    assert table.loc[0.01, "score"] > 0.97
    assert table.loc[3.0, "score"] < 0.5
    assert table.loc[3.0, "accuracy"] < table.loc[0.01, "accuracy"]
    assert (table["n_cells"] == 300).all()
    assert result.clean.shape == result.attacked[3.0].shape == (300, 50)


def test_unattacked_cells_score_exactly_one():
    cells, labels, _ = toy_problem()
    score = structure_score(cells, cells.copy(), labels, n_neighbors=10, n_pcs=20)
    assert score["score"] == 1.0
    assert 0.9 < score["clean_agreement"] <= 1.0


def test_cells_shuffled_across_types_score_near_chance():
    cells, labels, _ = toy_problem()
    impostors = cells[np.random.default_rng(1).permutation(len(cells))]
    score = structure_score(cells, impostors, labels, n_neighbors=10, n_pcs=20)
    assert score["attacked_agreement"] < 0.4  # four balanced types: chance is about 0.25


def test_largest_structured_eps_stops_at_the_first_failure():
    table = pd.DataFrame({"eps": [2.0, 0.5, 1.0, 3.0], "score": [0.8, 1.0, 0.95, 0.92]})
    assert largest_structured_eps(table, threshold=0.9) == 1.0
    assert largest_structured_eps(table, threshold=0.5) == 3.0
    assert largest_structured_eps(table, threshold=1.01) is None


def test_figure_has_clean_and_attacked_panels_per_eps(result, tmp_path):
    path = tmp_path / "structure.png"
    figure = plot_eps_structure(result, path, method="pca", class_names=["a", "b", "c", "d"])
    assert path.stat().st_size > 10_000
    titles = [axis.get_title() for axis in figure.axes]
    assert titles[0] == "eps 0.01: clean" and titles[2].startswith("eps 0.01: attacked\nscore")
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["a", "b", "c", "d", "the other half of the\njoint embedding"]


def test_no_cell_type_is_drawn_in_the_grey_of_the_other_half():
    """The other half of a joint embedding is grey; a cell type never is, however many there are."""
    from matplotlib.colors import to_rgba

    from scrobin.robustness.eps_structure import OTHER_HALF_COLOUR, type_colours

    for n_types in (3, 18, 40):
        colours = type_colours(n_types)
        assert len(colours) == n_types
        saturation = colours[:, :3].max(axis=1) - colours[:, :3].min(axis=1)
        assert (saturation > 0.1).all(), f"a grey type colour among {n_types}"
    assert max(to_rgba(OTHER_HALF_COLOUR)[:3]) - min(to_rgba(OTHER_HALF_COLOUR)[:3]) == 0


def test_umap_embedding_gets_the_seed_and_the_pca(monkeypatch):
    # A real UMAP fit costs ~20 s of numba compilation, too slow for a unit test; a stand-in records
    # what scrobin asks of it, since determinism rests on the seed reaching UMAP's random_state.
    import umap

    calls = []

    class RecordingUMAP:
        def __init__(self, **kwargs):
            calls.append(kwargs)

        def fit_transform(self, reduced):
            calls.append(reduced.shape)
            return reduced[:, :2]

    monkeypatch.setattr(umap, "UMAP", RecordingUMAP)
    cells, _, _ = toy_problem()
    embedding = embed(cells[:150], method="umap", n_neighbors=10, n_pcs=10, seed=4)
    settings, fitted_shape = calls
    indices, distances = settings.pop("precomputed_knn")
    assert settings == {"n_neighbors": 10, "random_state": 4} and fitted_shape == (150, 10)
    # The exact neighbours of each cell in its PCA, itself first (UMAP's convention).
    reduced = PCA(n_components=10, random_state=4).fit_transform(cells[:150])
    exact = np.linalg.norm(reduced[:, None] - reduced[None], axis=2)
    assert indices.shape == (150, 10) and (indices[:, 0] == np.arange(150)).all()
    assert np.allclose(distances, np.sort(exact, axis=1)[:, :10], atol=1e-4)
    assert embedding.shape == (150, 2)
    with pytest.raises(ScrobinError, match="umap, pca"):
        embed(cells, method="tsne")


@pytest.mark.parametrize(
    ("kwargs", "mentions"),
    [
        ({"eps_values": []}, "eps_values"),
        ({"eps_values": [0.0, 1.0]}, "eps_values"),
        ({"eps_values": [1.0], "attack": {"name": "fgsm", "params": {"eps": 1.0}}}, "params.eps"),
        ({"eps_values": [1.0], "n_neighbors": 500}, "n_neighbors"),
    ],
)
def test_bad_structure_requests_are_refused(kwargs, mentions):
    cells, labels, model = toy_problem()
    with pytest.raises(ScrobinError, match=mentions):
        eps_structure(model, cells, labels, device="cpu", **kwargs)
