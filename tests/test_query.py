"""Query cells: checks, gene alignment and the replay of the reference's transform."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import make_counts

from scrobin.config import validate_config
from scrobin.contract import SCROBIN_KEY
from scrobin.data.checks import Subject, query_subject
from scrobin.data.chunked_io import normalize_log1p
from scrobin.data.model_input import model_input
from scrobin.data.prepare import prepare_dataset
from scrobin.data.preprocess import apply_transform
from scrobin.data.query import (
    align_genes,
    align_query,
    check_input_state,
    check_query,
    check_query_source,
    labels_not_in_reference,
    query_model_input,
    reference_gene_record,
    replay_blocks,
)
from scrobin.errors import ScrobinError

SPEC = {"source": "x.h5ad", "label_key": "cell_type", "input_state": "auto"}
SUBJECT = query_subject("d", "q")


def one_line_error(call) -> str:
    with pytest.raises(ScrobinError) as caught:
        call()
    assert "\n" not in str(caught.value)
    return str(caught.value)


def reference(prepare_params, state="counts", n_top_genes=20, spec=None, adata=None):
    """A source of ``state`` values and its prepared dataset (60 genes, 20 model genes)."""
    source = make_counts(n_cells=150, n_genes=60, seed=2) if adata is None else adata
    if state != "counts":
        lognorm = normalize_log1p(source.X, 1e4)
        if state == "lognorm":
            source.X = lognorm
        else:
            dense = lognorm.toarray()
            source.X = ((dense - dense.mean(0)) / dense.std(0)).astype(np.float32)
    prepared = prepare_dataset(source, "d", {**SPEC, **(spec or {})}, {**prepare_params, "n_top_genes": n_top_genes}, seed=0)
    return source, prepared, prepared.uns[SCROBIN_KEY]["transform"]


def replayed(query, transform, **kwargs):
    alignment = align_query(query.var, transform, SUBJECT, **kwargs)
    return alignment, query_model_input(query, alignment, transform)


@pytest.mark.parametrize("state", ["counts", "lognorm", "scaled"])
def test_replay_on_the_reference_cells_gives_their_model_input(prepare_params, state):
    source, prepared, transform = reference(prepare_params, state)
    query = source[::-1, ::-1].copy()  # other cell and gene order: matched by name
    alignment, cells = replayed(query, transform)
    assert alignment.missing_genes == [] and alignment.missing_counted_genes == [] and alignment.missing_share == 0
    rows = query.obs_names.get_indexer(prepared.obs_names)
    assert np.array_equal(cells[rows], np.asarray(model_input(prepared)))
    assert alignment.matched_by == "var_names" and alignment.n_model_genes == 20


def test_blocks_of_cells_replay_as_the_whole(prepare_params):
    source, _, transform = reference(prepare_params)
    alignment = align_query(source.var, transform, SUBJECT)
    blocks = list(replay_blocks(source, alignment, transform, chunk_cells=40))
    assert [len(positions) for positions, _ in blocks] == [40, 40, 40, 30]
    assert np.array_equal(np.concatenate([cells for _, cells in blocks]), query_model_input(source, alignment, transform))


def test_extra_genes_are_ignored_and_a_missing_model_gene_is_its_training_mean(prepare_params):
    source, prepared, transform = reference(prepare_params)
    model_genes, counted = transform["genes"], transform["counted_genes"]
    dropped = model_genes[3]
    extra = ad.AnnData(X=sp.csr_matrix(np.full((source.n_obs, 2), 7.0, np.float32)),
                       obs=source.obs[[]], var=pd.DataFrame(index=["extra1", "extra2"]))
    query = ad.concat([source[:, source.var_names != dropped], extra], axis=1, merge="first")
    alignment, cells = replayed(query, transform)
    assert alignment.missing_genes == [dropped] and alignment.missing_counted_genes == [dropped]
    assert alignment.missing_share == pytest.approx(1 / 20)
    column = model_genes.index(dropped)
    assert np.all(cells[:, column] == 0)  # (training mean - training mean) / std
    # Every other gene as if the query had measured no count of the dropped gene: the library
    # size is the sum over the counted genes it shares (extra genes add nothing).
    zeroed = source.X.toarray()
    zeroed[:, source.var_names.get_loc(dropped)] = 0
    expected = apply_transform(zeroed, source.var_names, transform)
    others = np.arange(len(model_genes)) != column
    assert np.allclose(cells[:, others], expected[:, others], atol=1e-6)
    assert len(counted) > len(model_genes)


def test_a_missing_counted_gene_raises_the_library_size_factor(prepare_params):
    source, prepared, transform = reference(prepare_params)
    unused = [g for g in transform["counted_genes"] if g not in transform["genes"]][:5]
    query = source[:, ~source.var_names.isin(unused)].copy()
    alignment, cells = replayed(query, transform)
    assert alignment.missing_genes == [] and alignment.missing_counted_genes == unused
    # Fewer counts per cell: each remaining count weighs more, so a detected model gene reads
    # higher than in the reference cell, while an undetected one keeps its value.
    rows = source.obs_names.get_indexer(prepared.obs_names)
    expected = np.asarray(model_input(prepared))
    detected = source[:, transform["genes"]].X.toarray()[rows] > 0
    assert (cells[rows][detected] > expected[detected]).all()
    assert np.array_equal(cells[rows][~detected], expected[~detected])


def test_alignment_by_symbols_on_either_side(prepare_params):
    """Ensembl ids in var_names, symbols in a var column: the reference names the column and the
    query is named by symbols, or the query names its own column of symbols."""
    source = make_counts(n_cells=150, n_genes=60, seed=2)
    symbols = [f"SYM{j}" for j in range(source.n_vars)]
    source.var_names = [f"ENSG{j:05d}" for j in range(source.n_vars)]
    source.var["feature_name"] = symbols
    _, prepared, transform = reference(prepare_params, adata=source.copy(), spec={"gene_symbols": "feature_name"})
    assert transform["gene_symbols"] == [symbols[int(g[4:])] for g in transform["genes"]]
    expected = np.asarray(model_input(prepared))
    by_symbol = ad.AnnData(X=source.X, obs=source.obs, var=pd.DataFrame(index=symbols))[:, ::-1].copy()
    alignment, cells = replayed(by_symbol, transform)
    assert alignment.matched_by == "gene_symbols" and alignment.missing_genes == []
    assert np.array_equal(cells[by_symbol.obs_names.get_indexer(prepared.obs_names)], expected)
    # The query names its symbol column; its own var_names are something else again.
    _, _, plain = reference(prepare_params, adata=make_counts(n_cells=150, n_genes=60, seed=2))
    renamed = source.copy()
    renamed.var_names = [f"id{j}" for j in range(renamed.n_vars)]
    renamed.var["symbol"] = [f"gene{j}" for j in range(renamed.n_vars)]
    alignment = align_query(renamed.var, plain, SUBJECT, gene_symbols="symbol")
    assert alignment.query_names == "var['symbol']" and alignment.missing_genes == []


def test_align_genes_takes_the_first_of_repeated_names():
    assert align_genes(["B", "A", "B", "C"], ["A", "B", "D", "b"]).tolist() == [1, 0, -1, -1]


def test_too_few_shared_genes_are_refused_with_the_count(prepare_params):
    source, _, transform = reference(prepare_params)
    keep = ~source.var_names.isin(transform["genes"][:12])
    message = one_line_error(lambda: align_query(source.var[keep], transform, SUBJECT, min_shared_genes=0.5))
    assert message.startswith("dataset 'd', query 'q': its var_names hold 8 of the model's 20 genes (40%), "
                              "fewer than annotation.min_shared_genes 50%")
    assert message.endswith("or lower annotation.min_shared_genes")
    assert align_query(source.var[keep], transform, SUBJECT, min_shared_genes=0.4).missing_share == pytest.approx(0.6)


def test_another_species_is_named_when_names_match_once_case_is_ignored(prepare_params):
    source, _, transform = reference(prepare_params)
    mouse = source.var.copy()
    mouse.index = [name.capitalize() for name in source.var_names]  # gene3 -> Gene3, as Cd3e for CD3E
    message = one_line_error(lambda: align_query(mouse, transform, SUBJECT))
    assert "hold none of the model's 20 genes" in message
    assert "20 match once case is ignored (query 'Gene" in message and "another species" in message


def test_a_var_column_holding_the_model_genes_is_named(prepare_params):
    source, _, transform = reference(prepare_params)
    var = pd.DataFrame({"gene_ids": source.var_names, "n_cells": 3}, index=[f"ENSG{j}" for j in range(source.n_vars)])
    message = one_line_error(lambda: align_query(var, transform, Subject("query 'q.h5ad'", "", command_line=True)))
    assert message.endswith("var['gene_ids'] holds 20 of them: set --gene-symbols: gene_ids")


def test_a_query_in_another_input_state_is_refused(prepare_params):
    source, _, transform = reference(prepare_params)
    lognorm = source.copy()
    lognorm.X = normalize_log1p(lognorm.X, 1e4)
    state = check_query(lognorm, {}, SUBJECT)
    message = one_line_error(lambda: check_input_state(state, transform, SUBJECT))
    assert message == ("dataset 'd', query 'q': the query holds lognorm values but the model was trained from counts "
                       "values: give a layer of raw counts (datasets.d.queries.q.layer), or set "
                       "datasets.d.queries.q.input_state if lognorm was detected wrongly")


def test_query_checks_name_the_query_and_labels_are_optional(counts_adata):
    assert check_query(counts_adata, {}, SUBJECT) == "counts"
    message = one_line_error(lambda: check_query(counts_adata, {"layer": "counts"}, SUBJECT))
    assert message.startswith("dataset 'd', query 'q': layer 'counts' does not exist")
    assert message.endswith("fix datasets.d.queries.q.layer")
    assert "set --label-key to one of them" in one_line_error(
        lambda: check_query(counts_adata, {"label_key": "donor"}, Subject("query 'x.h5ad'", "", command_line=True)))


def test_labels_the_reference_lacks_are_warned_before_any_job(prepare_params):
    source, _, _ = reference(prepare_params)
    query = source.copy()
    labels = query.obs["cell_type"].astype(str).to_numpy()
    # "Type 1": not the same spelling of type_1 (that would be refused as one type spelt two ways)
    labels[:7], labels[7:9] = "Type 1", "platelet"
    query.obs["cell_type"] = labels
    record = reference_gene_record(source.var, "counts", None)
    assert labels_not_in_reference(query.obs["cell_type"], ["type_0", "type_1", "type_2"]) == {"Type 1": 7, "platelet": 2}
    (warning,) = check_query_source(query, {"label_key": "cell_type"}, SUBJECT, record, ["type_0", "type_1", "type_2"])
    assert warning == ("dataset 'd', query 'q': 2 query labels are not in the reference: 'Type 1' (7 cells), "
                       "'platelet' (2 cells) ('Type 1' may be 'type_1'): their cells are reported as not in the "
                       "reference and not scored; rename them to the reference's types in "
                       "datasets.d.queries.q.label_key to score them")
    assert check_query_source(query, {}, SUBJECT, record, ["type_0"]) == []
    query.var_names = [f"other{j}" for j in range(query.n_vars)]
    assert "hold none of the reference's 60 genes" in one_line_error(
        lambda: check_query_source(query, {}, SUBJECT, record, ["type_0"]))


def test_queries_in_the_config_are_checked_before_any_job(tmp_path, counts_adata, capsys):
    from scrobin.preflight import check_sources

    counts_adata.write_h5ad(tmp_path / "reference.h5ad")
    query = counts_adata[:30].copy()
    query.obs["cell_type"] = "neuron"
    query.write_h5ad(tmp_path / "query.h5ad")
    config = validate_config({"datasets": {"d": {"source": str(tmp_path / "reference.h5ad"), "label_key": "cell_type",
                                                 "queries": {"q": {"source": str(tmp_path / "query.h5ad"),
                                                                   "label_key": "cell_type"}}}}})
    check_sources(config, tmp_path / "cache")
    assert "scrobin: warning: dataset 'd', query 'q': 1 query labels are not in the reference: 'neuron' (30 cells)" in (
        capsys.readouterr().err)
    query.var_names = [name.upper() for name in query.var_names]
    query.write_h5ad(tmp_path / "query.h5ad")
    assert "another species" in one_line_error(lambda: check_sources(config, tmp_path / "cache"))
    with pytest.raises(ScrobinError, match="queries.q.source file 'missing.h5ad' does not exist"):
        validate_config({"datasets": {"d": {"source": str(tmp_path / "reference.h5ad"), "label_key": "cell_type",
                                            "queries": {"q": {"source": "missing.h5ad"}}}}})


def test_a_repeated_query_name_is_read_from_its_first_column(prepare_params):
    source, prepared, transform = reference(prepare_params)
    gene = transform["genes"][0]
    junk = ad.AnnData(X=sp.csr_matrix(np.full((source.n_obs, 1), 50.0, np.float32)), obs=source.obs[[]],
                      var=pd.DataFrame(index=["junk"]))
    query = ad.concat([source, junk], axis=1, merge="first")
    query.var["symbol"] = [*query.var_names[:-1], gene]  # the junk column repeats a model gene's name
    alignment, cells = replayed(query, transform, gene_symbols="symbol")
    assert np.array_equal(cells[source.obs_names.get_indexer(prepared.obs_names)], np.asarray(model_input(prepared)))
    with pytest.raises(ScrobinError, match="missing_genes 'zero' is unknown: use one of refuse, neutral"):
        apply_transform(source.X, source.var_names, transform, missing_genes="zero")
