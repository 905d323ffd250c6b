"""Key-gene recovery against the hypergeometric chance baseline; precision, recall, AUPRC."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import average_precision_score

from scrobin.contract import GROUND_TRUTH_KEY
from scrobin.errors import ScrobinError
from scrobin.evaluation.figures import plot_recovery
from scrobin.evaluation.ground_truth import (
    ALL_TYPES,
    average_precision,
    combined_overlap,
    key_genes_from_anndata,
    overlap_statistics,
    recovery_table,
)

N_GENES, N_TYPES, KEYS_PER_TYPE = 1200, 9, 7
GENES = np.array([f"gene{i:04d}" for i in range(N_GENES)], dtype=object)
TRUTH = {f"type{t}": list(GENES[t * KEYS_PER_TYPE:(t + 1) * KEYS_PER_TYPE]) for t in range(N_TYPES)}


def _table(orders: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame({"cell_type": np.repeat(list(orders), N_GENES),
                         "gene": np.concatenate(list(orders.values())),
                         "rank": np.tile(np.arange(1, N_GENES + 1), len(orders))})


def _random_ranking(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return _table({cell_type: rng.permutation(GENES) for cell_type in TRUTH})


def _planted_ranking() -> pd.DataFrame:
    """Each type's key genes on top, everything else after in a fixed shuffled order."""
    rng = np.random.default_rng(0)
    orders = {}
    for cell_type, keys in TRUTH.items():
        rest = rng.permutation(np.setdiff1d(GENES, keys))
        orders[cell_type] = np.concatenate([keys, rest])
    return _table(orders)


def test_expectation_and_p_value_match_scipy():
    rng = np.random.default_rng(3)
    universe = np.array([f"g{i}" for i in range(100)], dtype=object)
    keys = list(rng.choice(universe, size=10, replace=False))
    others = [gene for gene in universe if gene not in keys]
    ordered = np.array(keys[:5] + others[:15] + keys[5:] + others[15:], dtype=object)
    row = overlap_statistics(ordered, keys, top_n=20)
    assert row["recovered"] == 5
    assert row["expected"] == pytest.approx(20 * 10 / 100)
    assert row["p_value"] == pytest.approx(stats.hypergeom.sf(4, 100, 10, 20))
    assert row["precision_at_n"] == pytest.approx(5 / 20)
    assert row["recall_at_n"] == pytest.approx(5 / 10)
    assert row["auprc_chance"] == pytest.approx(0.1)


def test_random_rankings_are_not_significant_but_planted_key_genes_are():
    table = recovery_table({"random": _random_ranking(7), "planted": _planted_ranking()}, TRUTH,
                           top_n=20)
    summary = table[table["cell_type"] == ALL_TYPES].set_index("method")
    assert summary.loc["random", "p_value"] > 0.05
    assert summary.loc["random", "recovered"] < 3 * summary.loc["random", "expected"] + 3
    assert summary.loc["planted", "recovered"] == N_TYPES * KEYS_PER_TYPE
    assert summary.loc["planted", "p_value"] < 1e-50
    chance = N_TYPES * 20 * KEYS_PER_TYPE / N_GENES
    assert summary.loc["planted", "expected"] == pytest.approx(chance)
    planted = table[(table["method"] == "planted") & (table["cell_type"] != ALL_TYPES)]
    assert (planted["auprc"] == 1.0).all()
    assert (planted["recall_at_n"] == 1.0).all()
    assert len(table) == 2 * (N_TYPES + 1)


def test_random_rankings_are_significant_at_the_nominal_rate():
    p_values = [recovery_table({"random": _random_ranking(seed)}, TRUTH).iloc[-1]["p_value"]
                for seed in range(40)]
    assert np.mean(np.array(p_values) < 0.05) <= 0.15


def test_average_precision_matches_sklearn_and_is_one_when_perfect():
    rng = np.random.default_rng(4)
    is_key = rng.random(300) < 0.05
    assert average_precision(is_key) == pytest.approx(
        average_precision_score(is_key, -np.arange(300)))
    assert average_precision(np.sort(is_key)[::-1]) == 1.0


def test_summary_p_value_is_exact_for_the_sum_over_types():
    rows = [overlap_statistics(np.array([f"g{i}" for i in range(50)], dtype=object),
                               [f"g{i}" for i in keys], top_n=10)
            for keys in (range(0, 12, 2), range(5, 45, 8))]
    observed = sum(row["recovered"] for row in rows)
    rng = np.random.default_rng(5)
    draws = sum(rng.hypergeometric(row["n_key_genes"], 50 - row["n_key_genes"], 10, size=400_000)
                for row in rows)
    assert combined_overlap(rows)["p_value"] == pytest.approx(np.mean(draws >= observed), abs=0.003)
    assert combined_overlap(rows[:1])["p_value"] == pytest.approx(rows[0]["p_value"])


def test_regime_column_and_truth_from_anndata():
    adata = ad.AnnData(X=np.zeros((2, 3)), var=pd.DataFrame(index=["a", "b", "c"]))
    adata.obs_names = ["cell0", "cell1"]
    adata.uns[GROUND_TRUTH_KEY] = {"key_genes": {"T": np.array(["b"], dtype=object)}}
    truth = key_genes_from_anndata(adata)
    assert truth == {"T": ["b"]}
    ranking = pd.DataFrame({"cell_type": "T", "gene": ["b", "a", "c"], "rank": [1, 2, 3]})
    table = recovery_table({"m": ranking}, truth, top_n=1, regime="pgd")
    assert list(table.columns[:3]) == ["regime", "method", "cell_type"]
    assert table.iloc[0]["recovered"] == 1


def test_missing_truth_types_are_errors_and_unranked_key_genes_are_not_counted():
    ranking = pd.DataFrame({"cell_type": "T", "gene": ["b", "a", "c"], "rank": [1, 2, 3]})
    with pytest.raises(ScrobinError, match="no cell type 'U'"):
        recovery_table({"m": ranking}, {"U": ["a"]})
    with pytest.raises(ScrobinError, match="rank"):
        recovery_table({"m": ranking.drop(columns="rank")}, {"T": ["a"]})
    partly_selected = recovery_table({"m": ranking}, {"T": ["a", "not_selected"]}, top_n=2).iloc[0]
    assert partly_selected["n_key_genes"] == 1 and partly_selected["recall_at_n"] == 1.0
    none_selected = recovery_table({"m": ranking}, {"T": ["not_selected"]}, top_n=2).iloc[0]
    assert none_selected["recovered"] == 0 and none_selected["p_value"] == 1.0
    assert np.isnan(none_selected["auprc"])


def test_recovery_figure_groups_regimes(tmp_path):
    tables = [recovery_table({"random": _random_ranking(seed), "planted": _planted_ranking()},
                             TRUTH, regime=regime)
              for seed, regime in enumerate(["standard", "standard", "pgd"])]
    path = plot_recovery(pd.concat(tables), tmp_path / "recovery.png")
    assert path.exists() and path.stat().st_size > 0
    single_type = plot_recovery(tables[0], tmp_path / "type0.svg", cell_type="type0")
    assert single_type.stat().st_size > 0


def test_every_row_carries_the_key_genes_given_beside_those_ranked():
    from scrobin.data.prepare import restrict_truth
    from scrobin.evaluation.ground_truth import recovery_reference

    genes = pd.Index(["a", "b", "c", "d"])
    simulated = {"key_genes": {"T": ["a", "x1", "x2"], "U": ["c"], "V": ["y"]}}
    adata = ad.AnnData(X=np.zeros((1, len(genes))), var=pd.DataFrame(index=genes))
    adata.uns[GROUND_TRUTH_KEY] = restrict_truth(simulated, genes)  # as prepare stores it: x1, x2, y not selected
    truth, source, notes, n_given = recovery_reference(adata)
    assert (truth, source, notes, n_given) == ({"T": ["a"], "U": ["c"], "V": []}, "simulation", [],
                                               {"T": 3, "U": 1, "V": 1})
    ranking = pd.DataFrame({"cell_type": np.repeat(["T", "U", "V"], 4), "gene": list("abcd") * 3,
                            "rank": np.tile(np.arange(1, 5), 3)})
    table = recovery_table({"m": ranking}, truth, top_n=2, n_given=n_given).set_index("cell_type")
    assert list(table.columns[2:4]) == ["n_key_genes_given", "n_key_genes"]
    assert table["n_key_genes_given"].to_dict() == {"T": 3, "U": 1, "V": 1, ALL_TYPES: 5}
    assert table["n_key_genes"].to_dict() == {"T": 1, "U": 1, "V": 0, ALL_TYPES: 2}
    # Without n_given the truth's own genes are counted: for a restricted truth, only the ranked ones.
    assert recovery_table({"m": ranking}, truth, top_n=2)["n_key_genes_given"].tolist() == [1, 1, 0, 2]
    with pytest.raises(ScrobinError, match="n_given has no count for cell type 'V'"):
        recovery_table({"m": ranking}, truth, n_given={"T": 3, "U": 1})
    with pytest.raises(ScrobinError, match="n_given says 0 key genes were given for 'T' but the truth names 1"):
        recovery_table({"m": ranking}, truth, n_given={"T": 0, "U": 1, "V": 1})
