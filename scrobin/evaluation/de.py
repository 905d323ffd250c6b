"""Differential expression baseline: do attribution rankings find the genes a Wilcoxon test finds?

Sadria et al. compared the top 100 consensus genes of each type with the top 100 DE genes (Wilcoxon
rank-sum, Benjamini-Hochberg, adjusted p < 0.05) as Venn diagrams. Overlap alone says little
without chance, so every count here carries the hypergeometric expectation and p-value. The full
DE ranking is kept as well, so DE can be scored against simulated key genes like any method.

The test is the rank-sum test as defined, with its variance corrected for ties (scipy's
``mannwhitneyu``, scanpy's ``tie_correct=True``; scanpy's default leaves ties uncorrected). Sparse
marker genes are mostly zeros, one large tie: uncorrected, their variance is overstated and they
rank below genes with a weaker but tie-free shift.
"""

from __future__ import annotations

import anndata as ad
import pandas as pd

from scrobin.contract import LABEL_KEY, LOGNORM_LAYER
from scrobin.errors import ScrobinError
from scrobin.validators import require_positive_int
from scrobin.validators import require_obs_and_layer
from scrobin.evaluation.ground_truth import combined_overlap, overlap_statistics
from scrobin.attribution.importance import gene_direction, ranked_genes

DE_COLUMNS = ("cell_type", "gene", "score", "logfoldchange", "p_value", "p_value_adj", "significant", "rank",
              "mean_in_type", "mean_rest", "direction")
OVERLAP_COLUMNS = ("cell_type", "n_genes", "n_baseline", "n_ranked", "overlap", "expected", "p_value")


def de_ranking(adata, label_key: str = LABEL_KEY, layer: str | None = LOGNORM_LAYER,
               alpha: float = 0.05) -> pd.DataFrame:
    """Wilcoxon rank-sum (Mann-Whitney U) one-vs-rest ranking of every gene for every cell type.

    The test is scanpy's ``rank_genes_groups(method="wilcoxon", tie_correct=True)``: the normal
    approximation of the rank-sum statistic with the tie-corrected variance and no continuity
    correction, equal to ``scipy.stats.mannwhitneyu(method="asymptotic", use_continuity=False)``
    of the type's cells against all others; adjusted p-values are Benjamini-Hochberg's over the
    genes of each type.

    Parameters
    ----------
    adata
        Cells x genes AnnData. It is not modified: the test runs on a lightweight copy holding only
        the chosen matrix and the labels.
    label_key
        ``obs`` column with cell types.
    layer
        Layer with log-normalised expression: ``lognorm`` in a prepared dataset; ``None`` uses
        ``X``. Scaled, centred model input is rejected (negative values) because fold changes
        assume log1p data.
    alpha
        Benjamini-Hochberg adjusted p-value threshold for ``significant``.

    Returns
    -------
    pandas.DataFrame
        Long table ``cell_type, gene, score, logfoldchange, p_value, p_value_adj, significant,
        rank, mean_in_type, mean_rest, direction``, every gene of every type; ``score`` is the
        rank-sum z-score (positive: higher in the type), ``p_value`` its two-sided p-value, ``rank``
        orders genes by score (1 = most up in the type), ``significant`` marks adjusted p < ``alpha`` with
        positive log fold change, and the last three are ``scrobin.attribution.importance.gene_direction``'s
        (the same direction columns as the importance and consensus tables).
    """
    require_obs_and_layer(adata, label_key, layer, "the DE label key")
    if not 0.0 < alpha <= 1.0:
        raise ScrobinError(f"DE alpha must be in (0, 1], got {alpha!r}")
    expression = adata.X if layer is None else adata.layers[layer]
    if expression.min() < 0:
        raise ScrobinError("DE needs log-normalised expression but the matrix has negative values "
                           "(scaled model input?): pass the layer holding log1p-normalised data")
    labels = adata.obs[label_key].astype(str).astype("category")
    if len(labels.cat.categories) < 2:
        raise ScrobinError(f"obs['{label_key}'] has fewer than two cell types: DE needs at least "
                           f"two groups")
    tested = ad.AnnData(X=expression, obs=pd.DataFrame({"label": labels}, index=adata.obs_names),
                        var=pd.DataFrame(index=adata.var_names.astype(str)))
    # scanpy takes seconds to import; de_overlap (in every replicate and regime) does not need it.
    import scanpy as sc

    sc.tl.rank_genes_groups(tested, "label", method="wilcoxon", tie_correct=True,
                            corr_method="benjamini-hochberg", use_raw=False, n_genes=tested.n_vars)
    result = sc.get.rank_genes_groups_df(tested, group=None)
    table = pd.DataFrame({
        "cell_type": result["group"].astype(str).to_numpy(),
        "gene": result["names"].to_numpy(dtype=object),
        "score": result["scores"].to_numpy(dtype=float),
        "logfoldchange": result["logfoldchanges"].to_numpy(dtype=float),
        "p_value": result["pvals"].to_numpy(dtype=float),
        "p_value_adj": result["pvals_adj"].to_numpy(dtype=float),
    })
    table["significant"] = (table["p_value_adj"] < alpha) & (table["logfoldchange"] > 0)
    table = table.sort_values(["cell_type", "score"], ascending=[True, False], kind="stable")
    table["rank"] = table.groupby("cell_type").cumcount() + 1
    directions = gene_direction(expression, labels, tested.var_names).loc[
        :, ["cell_type", "gene", "mean_in_type", "mean_rest", "direction"]]
    table = table.merge(directions.astype({"cell_type": str}), on=["cell_type", "gene"],
                        how="left", validate="one_to_one")
    return table.loc[:, list(DE_COLUMNS)].reset_index(drop=True)


def de_top_genes(de_table: pd.DataFrame, top_n: int = 100) -> dict[str, list[str]]:
    """Up to ``top_n`` significant up-regulated genes per type, by Wilcoxon score."""
    significant = de_table[de_table["significant"]].sort_values("rank", kind="stable")
    return {str(cell_type): group["gene"].head(top_n).tolist()
            for cell_type, group in significant.groupby("cell_type", sort=False)}


def top_ranked_genes(ranking: pd.DataFrame, top_n: int = 100) -> dict[str, list[str]]:
    """The ``top_n`` best genes of each type of any ranking table (importance, consensus, a
    baseline's ranking such as the logistic coefficients), best first."""
    return {str(cell_type): list(genes[:top_n]) for cell_type, genes in ranked_genes(ranking).items()}


def de_overlap(de_table: pd.DataFrame, ranking: pd.DataFrame, top_n: int = 100) -> pd.DataFrame:
    """Overlap of each type's top DE genes with the top genes of a ranking, against chance
    (:func:`reference_overlap` of :func:`de_top_genes`, the paper's Fig. 3d,e)."""
    return reference_overlap(de_top_genes(de_table, top_n), de_table["cell_type"].astype(str).unique(), ranking,
                             top_n)


def reference_overlap(reference: dict[str, list[str]], cell_types, ranking: pd.DataFrame,
                      top_n: int = 100) -> pd.DataFrame:
    """Overlap of each type's reference genes (a baseline's top genes) with the top genes of a
    ranking, against chance.

    Parameters
    ----------
    reference
        Cell type -> the baseline's top genes (:func:`de_top_genes`: significant DE genes;
        :func:`top_ranked_genes` of the logistic coefficients).
    cell_types
        The types compared (a type without reference genes has none to overlap).
    ranking
        Consensus table (``consensus_ranking``) or one method's importance table.
    top_n
        Genes taken from the ranking (the paper: 100).

    Returns
    -------
    pandas.DataFrame
        ``cell_type, n_genes, n_baseline, n_ranked, overlap, expected, p_value`` per type and an
        ``all types`` row: ``n_baseline`` reference genes (at most ``top_n``), ``n_ranked`` top
        genes of the ranking, ``expected`` the hypergeometric mean overlap of two random lists of
        those sizes among ``n_genes`` genes, ``p_value`` its upper tail.
    """
    require_positive_int(top_n, "overlap top_n")
    ordered_by_type = {str(cell_type): genes for cell_type, genes in ranked_genes(ranking).items()}
    missing = sorted(set(map(str, cell_types)) - set(ordered_by_type))
    if missing:
        raise ScrobinError(f"the ranking has no cell type '{missing[0]}' of the baseline: compute "
                           f"both on the same cells and labels")
    type_rows = [{"cell_type": cell_type,
                  **overlap_statistics(ordered_by_type[cell_type], reference.get(cell_type, [])[:top_n], top_n)}
                 for cell_type in map(str, cell_types)]
    table = pd.DataFrame([*type_rows, combined_overlap(type_rows)])
    table = table.rename(columns={"n_key_genes": "n_baseline", "top_n": "n_ranked", "recovered": "overlap"})
    return table.loc[:, list(OVERLAP_COLUMNS)]
