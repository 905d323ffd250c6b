"""KernelSHAP and LIME batched over cells.

Checks: closed forms on a linear model, exact Shapley values by enumeration on 6 genes (and
shap.KernelExplainer's), the efficiency constraint on a ReLU network, and that batching over cells
(and splitting one cell's coalitions over passes) changes nothing.
"""

from itertools import combinations
from math import comb, factorial

import numpy as np
import pytest
import torch
from torch import nn

from scrobin.attribution import compute_attributions
from scrobin.attribution.coalitions import (
    InputLayerShortcut,
    cell_gene_columns,
    coalition_gram,
    in_solve_blocks,
    iter_coalition_values,
    random_subsets,
)
from scrobin.attribution.explained_model import with_output
from scrobin.attribution.kernel_shap import kernel_shap_design, kernel_shap_with_design
from scrobin.attribution.lime_surrogate import lime_design, lime_with_design
from scrobin.errors import ScrobinError
from scrobin.attribution.explained_model import input_layer_split
from scrobin.model.network import MLPClassifier

N_GENES, N_CLASSES, N_CELLS = 12, 3, 8
CPU = torch.device("cpu")


@pytest.fixture
def linear_model():
    model = nn.Linear(N_GENES, N_CLASSES)
    with torch.no_grad():
        model.weight.copy_(torch.linspace(-2, 2, N_GENES * N_CLASSES).reshape(N_CLASSES, N_GENES))
        model.bias.copy_(torch.tensor([0.5, -1.0, 0.25]))
    return model.eval()


def _mlp(n_genes):
    torch.manual_seed(1)
    return MLPClassifier(n_genes, N_CLASSES, hidden_sizes=(16, 8)).eval()


@pytest.fixture
def cells():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(N_CELLS, N_GENES)).astype(np.float32)
    target = rng.integers(0, N_CLASSES, N_CELLS)
    background = rng.normal(0.3, 1.0, size=(30, N_GENES)).astype(np.float32)
    return x, target, background


def _target_output(model, x, target):
    with torch.no_grad():
        outputs = model(torch.as_tensor(np.asarray(x, dtype=np.float32))).double().numpy()
    return outputs[np.arange(len(x)), target]


@pytest.mark.parametrize("method", ["kernelshap", "lime"])
@pytest.mark.parametrize("n_baseline_samples", [1, 5])
def test_linear_model_gets_weight_times_difference(linear_model, cells, method, n_baseline_samples):
    x, target, background = cells
    background = background[:n_baseline_samples]
    params = {"n_samples": 300} if method == "kernelshap" else {"n_samples": 300, "alpha": 0.0}
    attributions, info = compute_attributions(
        linear_model,
        x,
        target,
        method,
        params,
        {"baseline": "train_sample", "n_baseline_samples": n_baseline_samples},
        background=background,
        seed=0,
        device="cpu",
    )
    assert info["n_baseline_rows"] == n_baseline_samples
    weights = linear_model.weight.detach().double().numpy()
    expected = weights[target] * (x - background.mean(0))
    np.testing.assert_allclose(attributions, expected, atol=1e-4)


def _exact_shapley(model, cell, target, background):
    """Shapley values of the interventional game by enumerating every coalition."""
    n_genes = len(cell)

    def value(coalition):
        kept = np.zeros(n_genes, dtype=bool)
        kept[list(coalition)] = True
        rows = np.where(kept, cell, background)
        return _target_output(model, rows, np.full(len(rows), target)).mean()

    shapley = np.zeros(n_genes)
    for gene in range(n_genes):
        others = [other for other in range(n_genes) if other != gene]
        for size in range(n_genes):
            weight = factorial(size) * factorial(n_genes - size - 1) / factorial(n_genes)
            for coalition in combinations(others, size):
                shapley[gene] += weight * (value(coalition + (gene,)) - value(coalition))
    return shapley


def test_kernelshap_is_exact_when_all_coalitions_fit():
    rng = np.random.default_rng(4)
    model = _mlp(6)
    x = rng.normal(size=(3, 6)).astype(np.float32)
    target = np.array([0, 1, 2])
    background = rng.normal(size=(4, 6)).astype(np.float32)
    attributions, _ = compute_attributions(
        model,
        x,
        target,
        "kernelshap",
        baseline_spec={"baseline": "train_sample", "n_baseline_samples": 4},
        background=background,
        device="cpu",
    )
    expected = np.stack(
        [_exact_shapley(model, x[i], target[i], background) for i in range(len(x))]
    )
    np.testing.assert_allclose(attributions, expected, atol=1e-5)


def test_kernelshap_matches_shap_kernel_explainer():
    shap = pytest.importorskip("shap")
    rng = np.random.default_rng(5)
    model = _mlp(6)
    x = rng.normal(size=(2, 6)).astype(np.float32)
    background = rng.normal(size=(3, 6)).astype(np.float32)

    def class_one(rows):
        return _target_output(model, rows, np.ones(len(rows), dtype=int))

    reference = shap.KernelExplainer(class_one, background).shap_values(x, silent=True)
    attributions, _ = compute_attributions(
        model,
        x,
        np.ones(2, dtype=int),
        "kernelshap",
        baseline_spec={"baseline": "train_sample", "n_baseline_samples": 3},
        background=background,
        device="cpu",
    )
    np.testing.assert_allclose(attributions, reference, atol=1e-5)


def test_kernelshap_efficiency_on_relu_network(cells):
    x, target, background = cells
    model = _mlp(N_GENES)
    attributions, _ = compute_attributions(
        model,
        x,
        target,
        "kernelshap",
        {"n_samples": 100},
        {"baseline": "train_sample", "n_baseline_samples": len(background)},
        background=background,
        seed=1,
        device="cpu",
    )
    background_mean_output = np.mean(
        [_target_output(model, np.tile(row, (N_CELLS, 1)), target) for row in background], axis=0
    )
    gap = _target_output(model, x, target) - background_mean_output
    np.testing.assert_allclose(attributions.sum(1), gap, atol=1e-5)


def test_kernelshap_design_weights_follow_the_shapley_kernel():
    design = kernel_shap_design(10, 2**10 - 2, np.random.default_rng(0))
    sizes = design.masks.sum(1).astype(int)
    assert len(design.masks) == 2**10 - 2 and len(np.unique(design.masks, axis=0)) == 2**10 - 2
    subsets_of_size = np.array([comb(10, size) for size in sizes])
    kernel = (10 - 1) / (subsets_of_size * sizes * (10 - sizes))
    np.testing.assert_allclose(design.weights / design.weights.sum(), kernel / kernel.sum())
    sampled = kernel_shap_design(10, 300, np.random.default_rng(0))
    assert len(sampled.masks) <= 300 and np.isclose(sampled.weights.sum(), 1.0)
    np.testing.assert_array_equal(sampled.masks[:10], np.eye(10))


@pytest.mark.parametrize("method", ["kernelshap", "lime"])
@pytest.mark.parametrize("batch_size", [7, 100_000])
def test_batched_equals_one_cell_at_a_time(cells, method, batch_size):
    x, target, background = cells
    model = _mlp(N_GENES)
    references = background[:3]
    generator = np.random.default_rng(6)
    columns = cell_gene_columns(N_CELLS, N_GENES, generator)
    if method == "kernelshap":
        design = kernel_shap_design(N_GENES, 120, generator)

        def explain(cells_x, cells_target, rows_per_pass, cells=slice(None)):
            return kernel_shap_with_design(
                model,
                cells_x,
                cells_target,
                references,
                design,
                gene_columns=columns[cells],
                batch_size=rows_per_pass,
                device=CPU,
            )

    else:
        design = lime_design(N_GENES, 200, "cosine", 0.25, generator)

        def explain(cells_x, cells_target, rows_per_pass, cells=slice(None)):
            return lime_with_design(
                model,
                cells_x,
                cells_target,
                references,
                design,
                alpha=1.0,
                gene_columns=columns[cells],
                batch_size=rows_per_pass,
                device=CPU,
            )

    batched = explain(x, target, batch_size)
    one_by_one = np.concatenate(
        [explain(x[i : i + 1], target[i : i + 1], 100_000, slice(i, i + 1)) for i in range(N_CELLS)]
    )
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


@pytest.mark.parametrize("method", ["kernelshap", "lime"])
def test_cells_sharing_a_design_index_share_the_design(cells, method):
    x, target, _ = cells
    model = _mlp(N_GENES)
    copies, copy_target = np.repeat(x[:1], 4, axis=0), np.repeat(target[:1], 4)

    def run(design_of_cell):
        return compute_attributions(
            model, copies, copy_target, method, {"n_samples": 60}, seed=0, device="cpu", design_of_cell=design_of_cell
        )[0]

    shared = run(np.array([2, 2, 2, 2]))
    np.testing.assert_array_equal(shared, np.repeat(shared[:1], 4, axis=0))
    own = run(None)
    assert not np.allclose(own[0], own[1])
    # The index picks a permutation: the same index gives the same design in another call.
    np.testing.assert_array_equal(run(np.array([0, 1, 2, 2]))[3], run(np.array([2, 1, 0, 0]))[0])


def test_a_design_per_cell_averages_sampling_error_away():
    """A type's mean over many cells converges with a design per cell, not with one shared design."""
    rng = np.random.default_rng(9)
    model = _mlp(N_GENES)
    cell = rng.normal(size=(1, N_GENES)).astype(np.float32)
    copies, copy_target = np.repeat(cell, 64, axis=0), np.zeros(64, dtype=int)
    exact = compute_attributions(
        model, cell, copy_target[:1], "kernelshap", {"n_samples": 2**N_GENES - 2}, seed=0, device="cpu"
    )[0][0]

    def mean_error(design_of_cell):
        attributions = compute_attributions(
            model, copies, copy_target, "kernelshap", {"n_samples": 40}, seed=0, device="cpu", design_of_cell=design_of_cell
        )[0]
        return np.abs(attributions.mean(0) - exact).mean()

    assert mean_error(None) < 0.5 * mean_error(np.zeros(64, dtype=int))


def test_lime_design_starts_with_the_cell_and_weights_by_distance():
    design = lime_design(20, 500, "hamming", 0.25, np.random.default_rng(0))
    kept = design.masks.sum(1)
    assert kept[0] == 20 and design.weights[0] == 1.0 and (kept[1:] < 20).all()
    expected = np.exp(-(((20 - kept) / 20 / 0.25) ** 2))
    np.testing.assert_allclose(design.weights, expected, rtol=1e-6)


def test_too_few_coalitions_is_a_one_line_error(cells):
    x, target, _ = cells
    with pytest.raises(ScrobinError, match="n_samples=5 for 12 genes") as raised:
        compute_attributions(
            _mlp(N_GENES), x, target, "kernelshap", {"n_samples": 5}, seed=0, device="cpu"
        )
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("method", ["kernelshap", "lime"])
def test_seed_fixes_the_result(cells, method):
    x, target, background = cells
    model = _mlp(N_GENES)

    def run(seed):
        return compute_attributions(
            model,
            x,
            target,
            method,
            {"n_samples": 60},
            {"baseline": "train_sample", "n_baseline_samples": 3},
            background=background,
            seed=seed,
            device="cpu",
        )[0]

    first, again, other = run(0), run(0), run(1)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_sampled_kernelshap_approaches_the_exact_values(cells):
    x, target, background = cells
    model = _mlp(N_GENES)
    references = background[:1]

    def kernelshap(n_samples, seed):
        design = kernel_shap_design(N_GENES, n_samples, np.random.default_rng(seed))
        return kernel_shap_with_design(
            model, x, target, references, design, batch_size=100_000, device=CPU
        )

    exact = kernelshap(2**N_GENES - 2, 0)
    sampled = kernelshap(1000, 0)
    scale = np.abs(exact).max()
    assert np.abs(sampled - exact).max() < 0.1 * scale
    coarse_errors = [np.abs(kernelshap(40, seed) - exact).mean() for seed in range(3)]
    assert np.abs(sampled - exact).mean() < min(coarse_errors)


def test_lime_solve_equals_sklearn_weighted_ridge(cells):
    from sklearn.linear_model import Ridge

    x, target, background = cells
    model = _mlp(N_GENES)
    design = lime_design(N_GENES, 300, "cosine", 0.25, np.random.default_rng(8))
    coefficients = lime_with_design(
        model, x, target, background[:1], design, alpha=0.5, batch_size=100_000, device=CPU
    )
    rows = background[:1] + design.masks * (x[0] - background[:1])
    responses = _target_output(model, rows, np.full(len(rows), target[0]))
    reference = Ridge(alpha=0.5).fit(design.masks, responses, sample_weight=design.weights)
    np.testing.assert_allclose(coefficients[0], reference.coef_, atol=1e-5)


def _coalition_values(model, x, target, masks, references, columns, batch_size):
    parts = [values.numpy() for _, values in iter_coalition_values(
        model, x, target, masks, references, gene_columns=columns, batch_size=batch_size, device=CPU)]
    return np.concatenate(parts)


@pytest.mark.parametrize("design", ["kernelshap", "lime", "half"])
@pytest.mark.parametrize("output", ["logits", "probabilities"])
@pytest.mark.parametrize(("n_references", "batch_size"), [(1, 100_000), (3, 100_000), (2, 50)])
def test_input_layer_shortcut_gives_the_full_rows_values(monkeypatch, design, output, n_references, batch_size):
    # 60 genes: KernelSHAP's and LIME's coalitions differ from all-kept or all-replaced in few genes
    # or in many (the minority form, sparse and dense rows); "half" keeps 30 of 60 in each (the
    # plain dense form).
    n_genes = 60
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, n_genes)).astype(np.float32)
    target = rng.integers(0, N_CLASSES, 5)
    references = rng.normal(size=(n_references, n_genes)).astype(np.float32)
    model = with_output(_mlp(n_genes), output)
    generator = np.random.default_rng(4)
    if design == "kernelshap":
        masks = kernel_shap_design(n_genes, 400, generator).masks
    elif design == "lime":
        masks = lime_design(n_genes, 400, "cosine", 0.25, generator).masks
    else:
        masks = random_subsets(np.full(400, n_genes // 2), n_genes, generator)
    columns = cell_gene_columns(5, n_genes, generator)
    product = InputLayerShortcut(torch.as_tensor(masks), len(masks), *input_layer_split(model)).passes[0]
    if design == "half":
        # Every coalition keeps half the genes: no minority is cheaper than the coalition itself.
        assert product.row_of_coalition is None
    else:
        # Minority rows of few genes go sparse, the others dense: both parts are exercised.
        assert product.row_of_coalition is not None and product.sparse is not None and product.dense is not None
    shortcut = _coalition_values(model, x, target, masks, references, columns, batch_size)
    monkeypatch.setattr(InputLayerShortcut, "fits", classmethod(lambda cls, *args: False))
    full_rows = _coalition_values(model, x, target, masks, references, columns, batch_size)
    np.testing.assert_allclose(shortcut, full_rows, rtol=1e-5, atol=1e-5)


def test_input_layer_shortcut_is_only_taken_where_it_applies(linear_model):
    layer = nn.Linear(400, 16)
    assert InputLayerShortcut.fits(1, layer)
    # A chunk whose factor would not fit the memory bound keeps to full rows.
    assert not InputLayerShortcut.fits(InputLayerShortcut.MAX_FACTOR_ELEMENTS, layer)
    # A network that does not start with a linear layer is evaluated on full rows.
    assert input_layer_split(nn.Sequential(nn.ReLU(), nn.Linear(N_GENES, N_CLASSES))) is None
    assert input_layer_split(linear_model) is None
    assert input_layer_split(_mlp(N_GENES)) is not None


@pytest.mark.parametrize(
    "design",
    [
        pytest.param(lambda g: kernel_shap_design(40, 300, g), id="kernelshap-pairs"),
        pytest.param(lambda g: kernel_shap_design(9, 200, g), id="kernelshap-enumerated-sizes"),
        pytest.param(lambda g: lime_design(30, 200, "cosine", 0.25, g), id="lime-many-weights"),
    ],
)
def test_coalition_gram_equals_the_weighted_product(design):
    generator = np.random.default_rng(3)
    drawn = design(generator)
    masks64 = drawn.masks.astype(np.float64)
    direct = masks64.T @ (masks64 * drawn.weights[:, None])
    gram = coalition_gram(drawn.masks, drawn.weights)
    np.testing.assert_allclose(gram, direct, rtol=1e-12, atol=1e-14)
    # The design has both minority forms, repeated minorities and (for the first two) few weights.
    kept = drawn.masks.sum(axis=1)
    assert (kept > drawn.masks.shape[1] / 2).any() and (kept <= drawn.masks.shape[1] / 2).any()


def test_solve_blocks_join_consecutive_chunks_in_order():
    sizes, start, chunks = [1, 2, 3, 1], 0, []
    for size in sizes:
        chunks.append((slice(start, start + size), torch.arange(start, start + size, dtype=torch.float64)[:, None]))
        start += size
    blocks = list(in_solve_blocks(iter(chunks), block_cells=3))
    assert [(cells.start, cells.stop) for cells, _ in blocks] == [(0, 3), (3, 6), (6, 7)]
    for cells, values in blocks:
        np.testing.assert_array_equal(values[:, 0].numpy(), np.arange(cells.start, cells.stop))


def test_random_subsets_hold_exactly_their_sizes_and_cover_every_gene():
    sizes = np.array([0, 1, 5, 19, 20] * 40)
    masks = random_subsets(sizes, 20, np.random.default_rng(4))
    np.testing.assert_array_equal(masks.sum(axis=1), sizes)
    # Single-gene draws fall on every gene over many rows (uniform, not a fixed gene).
    singles = random_subsets(np.ones(2000, dtype=int), 20, np.random.default_rng(5))
    counts = singles.sum(axis=0)
    assert counts.min() > 60 and counts.max() < 140
