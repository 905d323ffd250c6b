"""Trust per cell type: the explained model's test F1 and test cells beside every ranking row."""

import numpy as np
import pandas as pd
import pytest

from scrobin.attribution.consensus import _type_labels, consensus_ranking
from scrobin.attribution.importance import (
    TRUST_COLUMNS,
    cell_type_importance,
    flag_few_cells,
    with_type_trust,
)
from scrobin.attribution.config import SCHEMA as ATTRIBUTION_SCHEMA
from scrobin.errors import ScrobinError
from scrobin.schema import section_defaults
from scrobin.metrics import classification_metrics, per_class_table

CLASSES = ["B", "NK", "T"]
GENES = [f"g{j}" for j in range(6)]


@pytest.fixture
def per_class():
    """Test predictions: B and NK all right, 5 of 8 T cells called NK (T's F1 0.545, NK's 0.615)."""
    y_true = np.repeat([0, 1, 2], [10, 4, 8])
    y_pred = y_true.copy()
    y_pred[-5:] = 1
    metrics = classification_metrics(y_true, y_pred, CLASSES)
    return per_class_table(metrics, y_true, CLASSES)


@pytest.fixture
def importances():
    rng = np.random.default_rng(0)
    types = np.repeat(CLASSES, [5, 2, 4])
    return {method: flag_few_cells(cell_type_importance(rng.normal(size=(len(types), len(GENES))), types, GENES), 3)
            for method in ("saliency", "lime")}


def test_every_row_gets_its_types_test_f1_and_cells(importances, per_class):
    table = with_type_trust(importances["saliency"], per_class, min_type_f1=0.6)
    assert tuple(table.columns[-3:]) == TRUST_COLUMNS
    per_type = table.groupby("cell_type")[list(TRUST_COLUMNS)].first()
    f1 = per_class.set_index("cell_type")["f1"]
    assert per_type["type_f1"].to_dict() == pytest.approx(f1.to_dict())
    assert f1["T"] == pytest.approx(2 * 3 / (2 * 3 + 5))  # 3 right, 5 missed, none falsely called T
    assert f1["NK"] == pytest.approx(2 * 4 / (2 * 4 + 5))  # 4 right, 5 falsely called NK
    assert per_type["n_test_cells"].to_dict() == {"B": 10, "NK": 4, "T": 8}
    assert per_type["not_recognised"].to_dict() == {"B": False, "NK": False, "T": True}
    # n_cells (cells explained) is untouched: a type can be recognised and still have too few cells.
    assert table.groupby("cell_type")["few_cells"].first().to_dict() == {"B": False, "NK": True, "T": False}
    assert not with_type_trust(importances["saliency"], per_class, min_type_f1=0.0)["not_recognised"].any()
    default = section_defaults(ATTRIBUTION_SCHEMA, "importance")["min_type_f1"]
    assert with_type_trust(importances["saliency"], per_class, default)["not_recognised"].sum() == (
        (f1 < default).sum() * len(GENES))


def test_consensus_tables_take_the_columns_and_the_heatmap_says_them(importances, per_class):
    consensus = with_type_trust(consensus_ranking(importances, top_n=2), per_class, min_type_f1=0.6)
    assert set(TRUST_COLUMNS) <= set(consensus.columns)
    assert _type_labels(consensus, CLASSES) == ["B (5 cells)", "NK (2 cells, too few)",
                                                "T (4 cells, not recognised)"]


@pytest.mark.parametrize(("change", "message"), [
    (lambda table, metrics: (table, metrics.drop(columns="f1")), "lacking: f1"),
    (lambda table, metrics: (table, metrics[metrics["cell_type"] != "NK"]), "no cell type 'NK'"),
    (lambda table, metrics: (table, pd.concat([metrics, metrics.tail(1)])), "list a cell type twice"),
])
def test_mismatched_metrics_are_a_one_line_error(importances, per_class, change, message):
    table, metrics = change(importances["saliency"], per_class)
    with pytest.raises(ScrobinError, match=message) as error:
        with_type_trust(table, metrics, 0.5)
    assert "\n" not in str(error.value)
    with pytest.raises(ScrobinError, match=r"min_type_f1 must lie in \[0, 1\]"):
        with_type_trust(importances["saliency"], per_class, min_type_f1=1.5)
