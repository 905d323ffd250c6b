"""Names that look like numbers stay text through the workflow's tables."""

import numpy as np
import pandas as pd
import pytest

from scrobin.attribution.consensus import consensus_ranking, top_consensus_genes
from scrobin.tables import concatenated_tables, read_table, write_table

ODD_NAMES = ["0", "1", "007", "1.0", "True", "False", "NA", "nan", "None", "1e3", ""]


def test_text_columns_round_trip_exactly(tmp_path):
    table = pd.DataFrame(
        {
            "cell_type": ODD_NAMES,
            "gene": ["1000", "1017", "0042", "7", "NA", "TRUE", "null", "inf", "1,2", "-1", "N/A"],
            "score": np.linspace(-1, 1, len(ODD_NAMES)),
            "p_value": [np.nan, 0.5, *[0.1] * (len(ODD_NAMES) - 2)],
            "significant": [True, False] * 5 + [True],
            "rank": np.arange(len(ODD_NAMES)),
            "note": [""] * len(ODD_NAMES),
        }
    )
    write_table(table, tmp_path / "t.tsv")
    back = read_table(tmp_path / "t.tsv")
    assert back["cell_type"].tolist() == ODD_NAMES
    assert back["gene"].tolist() == table["gene"].tolist()
    assert back["note"].tolist() == [""] * len(ODD_NAMES)
    assert back["score"].dtype == np.float64 and np.isnan(back["p_value"][0]) and back["p_value"][1] == 0.5
    assert back["significant"].dtype == bool and back["rank"].dtype == np.int64


def test_digit_labels_and_entrez_genes_survive_the_consensus_round_trip(tmp_path):
    genes = ["1000", "1017", "1034", "2000"]
    importance = pd.DataFrame(
        {
            "cell_type": np.repeat(["0", "1"], len(genes)),
            "gene": genes * 2,
            "rank": [1, 2, 3, 4, 4, 3, 2, 1],
        }
    )
    write_table(importance, tmp_path / "importance.tsv")
    consensus = consensus_ranking({"m": read_table(tmp_path / "importance.tsv")}, top_n=2)
    write_table(consensus, tmp_path / "consensus.tsv")
    top = top_consensus_genes(read_table(tmp_path / "consensus.tsv"), top_k=2)
    assert top == {"0": ["1000", "1017"], "1": ["2000", "1034"]}


def test_labels_file_keeps_names_as_text(tmp_path, counts_adata):
    from scrobin.data.datasets import attach_labels_file

    counts_adata.obs_names = [f"{i:03d}" for i in range(counts_adata.n_obs)]
    labels = np.where(np.arange(counts_adata.n_obs) % 2, "1", "NA")
    pd.DataFrame({"cell": counts_adata.obs_names, "label": labels}).to_csv(tmp_path / "l.tsv", sep="\t", index=False)
    attach_labels_file(counts_adata, tmp_path / "l.tsv", "leiden")
    assert counts_adata.obs["leiden"].tolist() == labels.tolist()


def test_ranking_tables_show_each_genes_symbol_next_to_its_id():
    from scrobin.tables import with_gene_symbols

    var = pd.DataFrame({"gene_symbol": ["CD3D", "MS4A1", "CD3D"]}, index=["ENSG01", "ENSG02", "ENSG03"])
    table = pd.DataFrame({"cell_type": ["T", "B", "T"], "gene": ["ENSG03", "ENSG02", "ENSG01"], "score": [3.0, 2.0, 1.0]})
    shown = with_gene_symbols(table, var)
    assert list(shown.columns) == ["cell_type", "gene", "gene_symbol", "score"]
    # A symbol two ids share names its id, so each label points at one gene.
    assert list(shown["gene_symbol"]) == ["CD3D (ENSG03)", "MS4A1", "CD3D (ENSG01)"]
    assert list(with_gene_symbols(shown, var).columns) == list(shown.columns)
    plain = with_gene_symbols(table, pd.DataFrame(index=["ENSG01", "ENSG02", "ENSG03"]))
    assert list(plain["gene_symbol"]) == list(table["gene"])


def test_labelled_tables_say_what_they_hold_through_a_round_trip(tmp_path):
    from scrobin.errors import ScrobinError
    from scrobin.tables import concatenated_tables, labels_of, with_labels

    table = pd.DataFrame({"cell_type": ["0", "1"], "gene": ["g1", "g2"], "score": [2.0, 1.0]})
    labelled = with_labels(table, seed=3, regime="pgd", method="saliency")
    assert list(labelled.columns[:3]) == ["seed", "regime", "method"] and "seed" not in table
    write_table(labelled, tmp_path / "a.tsv")
    write_table(with_labels(table, seed=4, regime="pgd", method="saliency"), tmp_path / "b.tsv")
    assert labels_of(read_table(tmp_path / "a.tsv"), "seed", "regime", "method") == (3, "pgd", "saliency")
    stacked = concatenated_tables([tmp_path / "a.tsv", tmp_path / "b.tsv"], dataset="7")
    assert list(stacked["dataset"]) == ["7"] * 4 and list(stacked["seed"]) == [3, 3, 4, 4]
    assert list(stacked["cell_type"]) == ["0", "1", "0", "1"]  # names stay text
    with pytest.raises(ScrobinError, match="2 'seed' value"):
        labels_of(stacked, "seed")
    with pytest.raises(ScrobinError, match="no 'method'"):
        labels_of(table, "method")


def test_labelled_tables_group_by_their_labels(tmp_path):
    from scrobin.tables import tables_by_labels, with_labels

    table = pd.DataFrame({"cell_type": ["0"], "gene": ["g1"], "score": [1.0]})
    paths = []
    for seed, regime, method in [(0, "standard", "lime"), (0, "pgd", "lime"), (0, "pgd", "saliency"), (1, "pgd", "lime")]:
        path = tmp_path / f"{seed}_{regime}_{method}.tsv"
        write_table(with_labels(table.assign(score=seed), seed=seed, regime=regime, method=method), path)
        paths.append(path)
    by_regime = tables_by_labels(paths[:3], by=["regime"], key="method")
    assert {regime: sorted(tables) for regime, tables in by_regime.items()} == {"standard": ["lime"], "pgd": ["lime", "saliency"]}
    by_seed_regime = tables_by_labels(paths, by=["seed", "regime"], key="method")
    assert sorted(by_seed_regime) == [(0, "pgd"), (0, "standard"), (1, "pgd")]
    assert by_seed_regime[(1, "pgd")]["lime"]["score"].tolist() == [1]


def test_seeds_stay_integers_next_to_rows_of_no_replicate(tmp_path):
    # The robustness summary stacks per-seed model sweeps with the logistic baseline's (no seed).
    write_table(pd.DataFrame({"seed": [0, 1], "accuracy": [0.5, 0.6]}), tmp_path / "model.tsv")
    write_table(pd.DataFrame({"accuracy": [0.7]}), tmp_path / "logistic.tsv")
    stacked = concatenated_tables([tmp_path / "model.tsv", tmp_path / "logistic.tsv"], "d")
    write_table(stacked, tmp_path / "summary.tsv")
    assert (tmp_path / "summary.tsv").read_text().splitlines()[1:] == ["d\t0\t0.5", "d\t1\t0.6", "d\t\t0.7"]
