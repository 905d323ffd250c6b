"""The logistic baseline's ranking: CellTypist's order (largest coefficient first), planted markers lead."""

import numpy as np
import pytest

from scrobin.attribution.importance import DIRECTION_COLUMNS, gene_direction, ranked_genes
from scrobin.errors import ScrobinError
from scrobin.evaluation import LOGISTIC_RANKING
from scrobin.evaluation.baselines import LOGISTIC_COLUMNS, logistic_ranking
from scrobin.evaluation.ground_truth import ALL_TYPES, recovery_table
from scrobin.model.logistic import fit_logistic_baseline, load_logistic_baseline, save_logistic_baseline

TYPES = ["B cell", "NK", "T cell"]
N_GENES, MARKERS_PER_TYPE = 20, 2
GENES = np.array([f"gene{j:02d}" for j in range(N_GENES)], dtype=object)
MARKERS = {cell_type: list(GENES[index * 5:index * 5 + MARKERS_PER_TYPE]) for index, cell_type in enumerate(TYPES)}


@pytest.fixture(scope="module")
def planted():
    """Scaled log-expression of 40 cells per type; each type's two markers are raised in it."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(len(TYPES)), 40)
    counts = rng.poisson(3.0, size=(len(labels), N_GENES)).astype(np.float64)
    for index, cell_type in enumerate(TYPES):
        marker_columns = np.isin(GENES, MARKERS[cell_type])
        counts[np.ix_(labels == index, marker_columns)] += rng.poisson(6.0, ((labels == index).sum(), MARKERS_PER_TYPE))
    lognorm = np.log1p(counts)
    scaled = ((lognorm - lognorm.mean(0)) / lognorm.std(0)).astype(np.float32)
    return scaled, labels, lognorm


@pytest.fixture(scope="module")
def stored_baseline(planted, tmp_path_factory):
    """The baseline as the workflow stores it and the evaluation reads it back."""
    scaled, labels, _ = planted
    path = tmp_path_factory.mktemp("logistic") / "logistic.npz"
    save_logistic_baseline(fit_logistic_baseline(scaled, labels, seed=0), path)
    return load_logistic_baseline(path)


def test_ranking_is_the_per_class_argsort_of_the_coefficients(stored_baseline):
    table = logistic_ranking(stored_baseline, GENES, TYPES)
    assert tuple(table.columns) == LOGISTIC_COLUMNS
    assert len(table) == len(TYPES) * N_GENES
    for index, cell_type in enumerate(TYPES):
        rows = table[table["cell_type"] == cell_type]
        coefficients = stored_baseline.coef_[index]
        assert rows["gene"].tolist() == list(GENES[np.argsort(-coefficients, kind="stable")])
        assert rows["rank"].tolist() == list(range(1, N_GENES + 1))
        np.testing.assert_array_equal(rows["score"], np.sort(coefficients)[::-1])


def test_planted_markers_lead_and_are_recovered_like_any_ranking(stored_baseline):
    table = logistic_ranking(stored_baseline, GENES, TYPES)
    for cell_type, genes in ranked_genes(table).items():
        assert sorted(genes[:MARKERS_PER_TYPE]) == MARKERS[cell_type]
    recovery = recovery_table({LOGISTIC_RANKING: table}, MARKERS, top_n=MARKERS_PER_TYPE)
    summary = recovery[recovery["cell_type"] == ALL_TYPES].iloc[0]
    assert summary["method"] == LOGISTIC_RANKING
    assert summary["recovered"] == len(TYPES) * MARKERS_PER_TYPE and summary["p_value"] < 1e-4


def test_direction_columns_are_the_genes_own(stored_baseline, planted):
    _, labels, lognorm = planted
    directions = gene_direction(lognorm, np.asarray(TYPES, dtype=object)[labels], GENES)
    table = logistic_ranking(stored_baseline, GENES, TYPES, directions)
    assert tuple(table.columns) == (*LOGISTIC_COLUMNS, *DIRECTION_COLUMNS)
    leaders = table[table["rank"] <= MARKERS_PER_TYPE]
    assert (leaders["direction"] == "up").all() and (leaders["logfoldchange"] > 0).all()
    with pytest.raises(ScrobinError, match="no expression direction for gene"):
        logistic_ranking(stored_baseline, GENES, TYPES, directions[directions["gene"] != "gene07"])


def test_binary_baseline_ranks_the_first_class_by_the_negated_weights(planted):
    scaled, labels, _ = planted
    two = labels < 2
    classifier = fit_logistic_baseline(scaled[two], labels[two], seed=0)
    assert classifier.coef_.shape == (1, N_GENES)
    table = logistic_ranking(classifier, GENES, TYPES[:2])
    first = table[table["cell_type"] == TYPES[0]]
    assert first["gene"].tolist() == list(GENES[np.argsort(classifier.coef_[0], kind="stable")])
    assert sorted(first["gene"].head(MARKERS_PER_TYPE)) == MARKERS[TYPES[0]]


@pytest.mark.parametrize(("genes", "types", "message"), [
    (GENES[:-1], TYPES, "coefficients per class but 19 genes"),
    (GENES, TYPES[:2], "classes are"),
    (np.where(GENES == "gene03", "gene02", GENES), TYPES, "not unique"),
])
def test_mismatched_input_is_a_one_line_error(stored_baseline, genes, types, message):
    with pytest.raises(ScrobinError, match=message) as error:
        logistic_ranking(stored_baseline, genes, types)
    assert "\n" not in str(error.value)


def test_an_unfitted_baseline_is_refused():
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(ScrobinError, match="not fitted"):
        logistic_ranking(LogisticRegression(), GENES, TYPES)
