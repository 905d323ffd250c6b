"""Gene-regulatory-network driven single-cell counts with known key genes, in the spirit of SERGIO.

Sadria et al. (2023) judge attribution methods by how many of a simulation's master regulators
("key genes") each method recovers per cell type. This module makes such data with the truth stored
in the AnnData itself, so a dataset stays self-describing after ``write_h5ad``.

The model, in the order it is drawn:

1. **Genes and roles.** Each cell type owns ``regulators_per_type`` master regulators. The remaining
   genes are first-layer targets (regulated by master regulators), second-layer targets (regulated
   by first-layer targets), housekeeping genes (high, type-independent) and unregulated genes
   (type-independent, any level). Gene order is shuffled with the seed so names reveal no role.
2. **Network.** Every target gets between one and ``max_regulators_per_target`` parents from the
   layer above; each edge activates or represses through a Hill function whose half-response ``K``
   is the parent's mean expression across cell types (as in SERGIO), so every edge works in its
   dynamic range.
3. **Biology.** A master regulator's production is raised by a log-uniform fold change in its own
   cell type. Steady state (decay 1, so expression equals production) is computed in closed form
   layer by layer along the DAG, vectorised over cells, with multiplicative lognormal cell-to-cell
   noise on every gene that propagates downstream. Fold changes vary, and targets can swing more
   than their regulators, so key genes are not simply the top differentially expressed genes.
4. **Technology.** Expression-dependent dropout (logistic in log expression, as in SERGIO),
   lognormal library sizes, and gamma-Poisson (negative binomial) count sampling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from scrobin.contract import GROUND_TRUTH_KEY, LABEL_KEY, SIMULATION_KEY
from scrobin.errors import ScrobinError
from scrobin.validators import is_integer, is_real

SIMULATION_DEFAULTS: dict = {
    "n_cells": 2700,
    "n_genes": 1200,
    "n_cell_types": 9,
    "regulators_per_type": 7,
    "seed": 0,
    "housekeeping_fraction": 0.1,
    "unregulated_fraction": 0.25,
    "downstream_fraction": 0.4,
    "max_regulators_per_target": 2,
    "activation_fraction": 0.7,
    "hill_n_range": [1.0, 3.0],
    "key_fold_change_range": [1.3, 6.0],
    "biological_noise_sd": 0.25,
    "library_size_sd": 0.3,
    "mean_library_size": 2500.0,
    "dropout_percentile": 40.0,
    "dropout_steepness": 2.0,
    "count_overdispersion": 0.1,
}

# Log-scale centres of the production rates of each gene role. Master regulators sit below their
# targets' maximal production, so downstream genes amplify the signal, as transcription factors are
# often weakly expressed.
_REGULATOR_LOG_BASE = (np.log(0.3), 0.5)
_EDGE_LOG_WEIGHT = (np.log(2.0), 0.5)
_TARGET_LOG_BASAL = (np.log(0.1), 0.5)
_HOUSEKEEPING_LOG_LEVEL = (np.log(4.0), 0.5)
_UNREGULATED_LOG_LEVEL = (np.log(0.5), 1.0)


def _is_ordered_pair(value, lowest_exclusive: float) -> bool:
    return (not isinstance(value, (str, bytes)) and hasattr(value, "__len__") and len(value) == 2
            and all(is_real(bound) for bound in value)
            and lowest_exclusive < value[0] <= value[1])


def _positive_integer(value) -> bool:
    return is_integer(value) and value >= 1


def _positive_real(value) -> bool:
    return is_real(value) and 0.0 < value < np.inf


def _non_negative_real(value) -> bool:
    return is_real(value) and 0.0 <= value < np.inf


def _fraction(value) -> bool:
    """A share that cannot take all genes: [0, 1)."""
    return is_real(value) and 0.0 <= value < 1.0


# Each parameter's acceptance test and the words that tell the user what is accepted.
_PARAMETER_RULES = {
    "n_cells": (_positive_integer, "a positive integer"),
    "n_genes": (_positive_integer, "a positive integer"),
    "n_cell_types": (lambda value: is_integer(value) and value >= 2,
                     "an integer >= 2 (something to classify)"),
    "regulators_per_type": (_positive_integer, "a positive integer"),
    "seed": (lambda value: is_integer(value) and value >= 0, "a non-negative integer"),
    "housekeeping_fraction": (_fraction, "a number in [0, 1)"),
    "unregulated_fraction": (_fraction, "a number in [0, 1)"),
    "downstream_fraction": (_fraction, "a number in [0, 1)"),
    "max_regulators_per_target": (_positive_integer, "a positive integer"),
    "activation_fraction": (lambda value: is_real(value) and 0.0 <= value <= 1.0,
                            "a number in [0, 1]"),
    "hill_n_range": (lambda value: _is_ordered_pair(value, 0.0),
                     "a pair [low, high] with 0 < low <= high"),
    "key_fold_change_range": (lambda value: _is_ordered_pair(value, 1.0),
                              "a pair [low, high] with 1 < low <= high"),
    "biological_noise_sd": (_non_negative_real, "a number >= 0"),
    "library_size_sd": (_non_negative_real, "a number >= 0"),
    "mean_library_size": (_positive_real, "a positive number"),
    "dropout_percentile": (lambda value: is_real(value) and 0.0 <= value < 100.0,
                           "a number in [0, 100), 0 disables dropout"),
    "dropout_steepness": (_positive_real, "a positive number"),
    "count_overdispersion": (_non_negative_real, "a number >= 0, 0 gives Poisson counts"),
}


def _role_sizes(params: dict) -> dict[str, int]:
    """Number of genes in each role; the one place the gene budget is split."""
    n_genes = params["n_genes"]
    n_key = params["n_cell_types"] * params["regulators_per_type"]
    n_housekeeping = int(round(params["housekeeping_fraction"] * n_genes))
    n_unregulated = int(round(params["unregulated_fraction"] * n_genes))
    n_targets = n_genes - n_key - n_housekeeping - n_unregulated
    n_layer2 = int(round(params["downstream_fraction"] * max(n_targets, 0)))
    return {"key_regulator": n_key, "target_layer1": n_targets - n_layer2,
            "target_layer2": n_layer2, "housekeeping": n_housekeeping,
            "unregulated": n_unregulated}


def validate_simulation_params(params: Mapping) -> dict:
    """Fill defaults into ``params`` and reject bad values with a one-line ``ScrobinError``.

    Checked at the boundary so the simulation itself can trust its inputs, and so a config typo
    names the offending key instead of failing deep inside numpy.

    Parameters
    ----------
    params
        Any subset of the keys of ``SIMULATION_DEFAULTS``.

    Returns
    -------
    dict
        Every key of ``SIMULATION_DEFAULTS`` as a plain int, float or list of two floats.
    """
    unknown = sorted(set(params) - set(SIMULATION_DEFAULTS))
    if unknown:
        raise ScrobinError(f"unknown simulation parameter '{unknown[0]}': valid ones are "
                           f"{', '.join(SIMULATION_DEFAULTS)}")
    filled = {}
    for name, default in SIMULATION_DEFAULTS.items():
        value = params.get(name, default)
        accepts, requirement = _PARAMETER_RULES[name]
        if not accepts(value):
            raise ScrobinError(f"simulation parameter '{name}' must be {requirement}, "
                               f"got {value!r}")
        # Plain Python types, so the parameters store in JSON and h5ad alike.
        filled[name] = ([float(bound) for bound in value] if isinstance(default, list)
                        else type(default)(value))
    if filled["n_cells"] < filled["n_cell_types"]:
        raise ScrobinError(f"n_cells ({filled['n_cells']}) is below n_cell_types "
                           f"({filled['n_cell_types']}): every cell type needs cells")
    n_key = filled["n_cell_types"] * filled["regulators_per_type"]
    if n_key > filled["n_genes"]:
        raise ScrobinError(f"n_cell_types * regulators_per_type ({n_key}) exceeds n_genes "
                           f"({filled['n_genes']}): raise n_genes or lower regulators_per_type")
    sizes = _role_sizes(filled)
    if sizes["target_layer1"] < n_key:
        raise ScrobinError(f"only {sizes['target_layer1']} first-layer target genes are left for "
                           f"{n_key} master regulators: raise n_genes or lower "
                           f"housekeeping_fraction, unregulated_fraction or downstream_fraction")
    return filled


@dataclass(frozen=True)
class _Edges:
    """Regulatory edges as parallel arrays over edges (internal gene indices).

    ``half_response`` is the Hill constant K of each edge.
    """

    regulator: np.ndarray
    target: np.ndarray
    sign: np.ndarray
    hill_n: np.ndarray
    weight: np.ndarray
    half_response: np.ndarray

    def concatenate(self, other: _Edges) -> _Edges:
        return _Edges(*(np.concatenate([getattr(self, field.name), getattr(other, field.name)])
                        for field in fields(_Edges)))


def _draw_edges(parents: np.ndarray, targets: np.ndarray, type_means: np.ndarray, params: dict,
                rng: np.random.Generator) -> _Edges:
    """Give every target 1..max_regulators_per_target distinct parents.

    The half-response of an edge is its parent's mean expression over cell types (``type_means``,
    cell types x genes), as in SERGIO, so the Hill curve switches between the parent's low and
    high states instead of saturating.

    Each target's first parent walks a shuffled list of all parents, so every parent regulates at
    least one target whenever there are at least as many targets as parents (validated for the
    master regulators): no key gene is a dead end that no method could ever detect.
    """
    max_parents = min(params["max_regulators_per_target"], len(parents))
    in_degree = rng.integers(1, max_parents + 1, size=len(targets))
    first_parent = np.resize(rng.permutation(len(parents)), len(targets))
    # Random scores with the first parent forced to the top; each target's in_degree lowest scores
    # pick distinct parents without a per-target Python loop.
    scores = rng.random((len(targets), len(parents)))
    scores[np.arange(len(targets)), first_parent] = -1.0
    order = np.argsort(scores, axis=1)
    chosen = np.arange(len(parents))[None, :] < in_degree[:, None]
    target_rows, rank = np.nonzero(chosen)
    regulator = parents[order[target_rows, rank]]
    target = targets[target_rows]
    n_edges = len(target)
    sign = np.where(rng.random(n_edges) < params["activation_fraction"], 1, -1).astype(np.int8)
    low_n, high_n = params["hill_n_range"]
    hill_n = rng.uniform(low_n, high_n, size=n_edges)
    weight = rng.lognormal(*_EDGE_LOG_WEIGHT, size=n_edges)
    half_response = type_means[:, regulator].mean(axis=0)
    return _Edges(regulator, target, sign, hill_n, weight, half_response)


def _hill_production(expression: np.ndarray, edges: _Edges, basal: np.ndarray) -> np.ndarray:
    """Production of every gene from its regulators (rows: cells or cell types; columns: genes).

    Activating edges contribute ``weight * x^n / (K^n + x^n)``, repressing edges
    ``weight * K^n / (K^n + x^n)``; contributions add up per target (SERGIO's model) through a
    sparse edges x genes matrix, so all cells are handled in one product.
    """
    regulator_level = expression[:, edges.regulator]
    ratio = (regulator_level / edges.half_response) ** edges.hill_n
    activation = ratio / (1.0 + ratio)
    response = np.where(edges.sign > 0, activation, 1.0 - activation)
    n_genes = expression.shape[1]
    to_targets = sp.csr_matrix((edges.weight, (np.arange(len(edges.target)), edges.target)),
                               shape=(len(edges.target), n_genes))
    return np.asarray(response @ to_targets) + basal


def _cell_noise(shape: tuple[int, int], sd: float, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative lognormal noise with mean one, so noise does not shift mean expression."""
    return rng.lognormal(-0.5 * sd**2, sd, size=shape)


def _propagate(start: np.ndarray, layers: list[tuple[_Edges, np.ndarray]], basal: np.ndarray,
               noise_sd: float, rng: np.random.Generator | None) -> np.ndarray:
    """Steady-state expression along the DAG, layer by layer (decay 1: expression = production).

    ``start`` already holds the master regulators and the type-independent genes; each layer's
    targets are filled from the layer above. With ``rng`` None no noise is drawn (cell-type means).
    """
    expression = start.copy()
    for edges, layer_genes in layers:
        production = _hill_production(expression, edges, basal)[:, layer_genes]
        if rng is not None:
            production *= _cell_noise(production.shape, noise_sd, rng)
        expression[:, layer_genes] = production
    return expression


def _technical_counts(expression: np.ndarray, params: dict, rng: np.random.Generator) -> np.ndarray:
    """Turn expression into UMI-like counts: dropout, library size, then gamma-Poisson sampling.

    Dropout is applied before normalising to the library size, so ``mean_library_size`` is the
    expected total count of the observed cells.
    """
    observed = expression
    if params["dropout_percentile"] > 0.0:
        log_expression = np.log1p(expression)
        midpoint = np.percentile(log_expression, params["dropout_percentile"])
        keep_probability = 1.0 / (1.0 + np.exp(-params["dropout_steepness"]
                                               * (log_expression - midpoint)))
        observed = expression * (rng.random(expression.shape) < keep_probability)
    library_size = params["mean_library_size"] * _cell_noise((len(expression), 1),
                                                             params["library_size_sd"], rng)
    totals = observed.sum(axis=1, keepdims=True)
    mean_counts = library_size * observed / np.where(totals > 0, totals, 1.0)
    dispersion = params["count_overdispersion"]
    if dispersion > 0.0:
        mean_counts = rng.gamma(1.0 / dispersion, dispersion * mean_counts)
    return rng.poisson(mean_counts)


def _names(prefix: str, count: int) -> np.ndarray:
    width = max(4, len(str(count - 1)))
    return np.array([f"{prefix}{index:0{width}d}" for index in range(count)], dtype=object)


def simulated_gene_names(n_genes: int) -> np.ndarray:
    """The gene names ``simulate`` gives ``n_genes`` genes (g0000, g0001, ...)."""
    return _names("g", n_genes)


def simulate(n_cells: int = 2700, n_genes: int = 1200, n_cell_types: int = 9,
             regulators_per_type: int = 7, seed: int = 0, **knobs) -> ad.AnnData:
    """Simulate raw counts from a layered gene regulatory network with known key genes.

    Parameters
    ----------
    n_cells, n_genes, n_cell_types
        Size of the data set; cells are split as evenly as possible over the cell types.
    regulators_per_type
        Master regulators ("key genes") owned by each cell type.
    seed
        Seeds network, biology and technical noise: the same seed gives the identical matrix.
    **knobs
        Any other key of ``SIMULATION_DEFAULTS``:
        ``housekeeping_fraction`` and ``unregulated_fraction`` (share of genes in each role),
        ``downstream_fraction`` (share of target genes in the second layer),
        ``max_regulators_per_target`` (in-degree of a target is uniform on 1..this),
        ``activation_fraction`` (share of activating edges), ``hill_n_range`` (uniform range of
        Hill coefficients), ``key_fold_change_range`` (log-uniform range of a master regulator's
        production fold change in its own type), ``biological_noise_sd`` (sd of the log of the
        per-cell multiplicative noise on every gene), ``library_size_sd`` (sd of log library size),
        ``mean_library_size`` (expected total counts per cell), ``dropout_percentile`` (percentile
        of log expression where the keep probability is one half; 0 disables dropout),
        ``dropout_steepness`` (slope of that logistic curve), ``count_overdispersion`` (negative
        binomial overdispersion; 0 gives Poisson counts).

    Returns
    -------
    anndata.AnnData
        ``X``: integer counts as ``csr_matrix`` of float32. ``obs["cell_type"]``: categorical
        ``type_0``... ``var``: ``role``, ``key_for`` (cell type a gene is a master regulator of,
        else ""), ``is_regulator`` (has outgoing edges), ``target_of`` (comma-separated cell types
        whose master regulators directly regulate the gene). ``uns["ground_truth"]``: ``key_genes``
        and ``direct_targets`` (cell type -> gene names), ``edges`` (arrays ``regulator``,
        ``target``, ``sign``, ``hill_n``, ``K``, ``weight``), ``regulator_production`` (master
        regulator names and their cell types x regulators production rates).
        ``uns["simulation"]``: every parameter used.
    """
    params = validate_simulation_params({"n_cells": n_cells, "n_genes": n_genes,
                                         "n_cell_types": n_cell_types,
                                         "regulators_per_type": regulators_per_type,
                                         "seed": seed, **knobs})
    rng = np.random.default_rng(params["seed"])
    sizes = _role_sizes(params)
    bounds = np.cumsum([0, *sizes.values()])
    role_genes = {role: np.arange(bounds[i], bounds[i + 1]) for i, role in enumerate(sizes)}
    n_types, n_genes = params["n_cell_types"], params["n_genes"]
    key_genes = role_genes["key_regulator"]
    owner_type = np.repeat(np.arange(n_types), params["regulators_per_type"])

    base_rate = rng.lognormal(*_REGULATOR_LOG_BASE, size=len(key_genes))
    low_fold, high_fold = params["key_fold_change_range"]
    fold_change = np.exp(rng.uniform(np.log(low_fold), np.log(high_fold), size=len(key_genes)))
    own_type = owner_type[None, :] == np.arange(n_types)[:, None]
    regulator_production = base_rate * np.where(own_type, fold_change, 1.0)

    constant_level = np.zeros(n_genes)
    constant_level[role_genes["housekeeping"]] = rng.lognormal(
        *_HOUSEKEEPING_LOG_LEVEL, size=sizes["housekeeping"])
    constant_level[role_genes["unregulated"]] = rng.lognormal(
        *_UNREGULATED_LOG_LEVEL, size=sizes["unregulated"])
    basal = np.zeros(n_genes)
    targets = np.concatenate([role_genes["target_layer1"], role_genes["target_layer2"]])
    basal[targets] = rng.lognormal(*_TARGET_LOG_BASAL, size=len(targets))

    # Half-responses come from cell-type mean expression, which needs the layer above first:
    # build the network and the noise-free type means together, layer by layer.
    type_means = np.tile(constant_level, (n_types, 1))
    type_means[:, key_genes] = regulator_production
    layers = []
    for parents, layer_targets in ((key_genes, role_genes["target_layer1"]),
                                   (role_genes["target_layer1"], role_genes["target_layer2"])):
        if len(layer_targets) == 0:
            continue
        layers.append((_draw_edges(parents, layer_targets, type_means, params, rng), layer_targets))
        type_means = _propagate(type_means, layers[-1:], basal, 0.0, None)

    cell_type = rng.permutation(np.arange(params["n_cells"]) % n_types)
    start = constant_level * _cell_noise((params["n_cells"], n_genes),
                                         params["biological_noise_sd"], rng)
    start[:, key_genes] = regulator_production[cell_type] * _cell_noise(
        (params["n_cells"], len(key_genes)), params["biological_noise_sd"], rng)
    expression = _propagate(start, layers, basal, params["biological_noise_sd"], rng)
    counts = _technical_counts(expression, params, rng)

    # Column j of the output holds internal gene column_gene[j]; names follow output position.
    column_gene = rng.permutation(n_genes)
    gene_name = np.empty(n_genes, dtype=object)
    gene_name[column_gene] = simulated_gene_names(n_genes)
    type_names = [f"type_{index}" for index in range(n_types)]
    return _assemble(counts[:, column_gene], cell_type, type_names, gene_name, column_gene,
                     role_genes, owner_type, regulator_production, layers, params)


def _assemble(counts: np.ndarray, cell_type: np.ndarray, type_names: list[str],
              gene_name: np.ndarray, column_gene: np.ndarray, role_genes: dict,
              owner_type: np.ndarray, regulator_production: np.ndarray, layers: list,
              params: dict) -> ad.AnnData:
    """Wrap counts and truth into an AnnData whose ``uns`` survives an h5ad round trip."""
    n_genes = len(gene_name)
    role = np.empty(n_genes, dtype=object)
    for role_name, genes in role_genes.items():
        role[genes] = role_name
    key_genes = role_genes["key_regulator"]
    key_for = np.full(n_genes, "", dtype=object)
    key_for[key_genes] = [type_names[t] for t in owner_type]

    all_edges = layers[0][0]
    for edges, _ in layers[1:]:
        all_edges = all_edges.concatenate(edges)
    is_regulator = np.zeros(n_genes, dtype=bool)
    is_regulator[all_edges.regulator] = True

    key_position = np.full(n_genes, -1)
    key_position[key_genes] = np.arange(len(key_genes))
    direct = key_position[all_edges.regulator] >= 0
    direct_type = owner_type[key_position[all_edges.regulator[direct]]]
    direct_target = all_edges.target[direct]
    direct_targets = {name: sorted(set(gene_name[direct_target[direct_type == t]]))
                      for t, name in enumerate(type_names)}
    target_of = np.full(n_genes, "", dtype=object)
    for gene in np.unique(direct_target):
        regulating_types = np.unique(direct_type[direct_target == gene])
        target_of[gene] = ",".join(type_names[t] for t in regulating_types)

    var = pd.DataFrame({"role": role, "key_for": key_for, "is_regulator": is_regulator,
                        "target_of": target_of}, index=pd.Index(gene_name, name="gene"))
    obs = pd.DataFrame({LABEL_KEY: pd.Categorical.from_codes(cell_type, categories=type_names)},
                       index=pd.Index(_names("cell", len(cell_type)), name="cell"))
    adata = ad.AnnData(X=sp.csr_matrix(counts.astype(np.float32)), obs=obs,
                       var=var.iloc[column_gene])
    adata.uns[GROUND_TRUTH_KEY] = {
        "key_genes": {name: np.array(sorted(gene_name[key_genes[owner_type == t]]), dtype=object)
                      for t, name in enumerate(type_names)},
        "direct_targets": {name: np.array(genes, dtype=object)
                           for name, genes in direct_targets.items()},
        "edges": {"regulator": gene_name[all_edges.regulator].astype(object),
                  "target": gene_name[all_edges.target].astype(object),
                  "sign": all_edges.sign, "hill_n": all_edges.hill_n, "K": all_edges.half_response,
                  "weight": all_edges.weight},
        "regulator_production": {"regulator": gene_name[key_genes].astype(object),
                                 "cell_types": np.array(type_names, dtype=object),
                                 "rate": regulator_production},
    }
    adata.uns[SIMULATION_KEY] = dict(params)
    return adata# One line per parameter, for the generated configuration reference (config/README.md).
SIMULATION_MEANINGS: dict = {
    "n_cells": "number of cells, split evenly over the cell types",
    "n_genes": "number of genes",
    "n_cell_types": "number of cell types (at least 2)",
    "regulators_per_type": "master regulators (key genes) owned by each cell type",
    "seed": "seeds the network, biological noise and technical noise",
    "housekeeping_fraction": "share of genes that are housekeeping (high, same in every type)",
    "unregulated_fraction": "share of genes with no regulators and no type dependence",
    "downstream_fraction": "share of target genes in the second layer (regulated by first-layer targets)",
    "max_regulators_per_target": "each target gets between 1 and this many regulators",
    "activation_fraction": "share of edges that activate (the rest repress)",
    "hill_n_range": "range [low, high] of the Hill coefficients (0 < low <= high)",
    "key_fold_change_range": "log-uniform range [low, high] of a regulator's production fold change in its own type (1 < low <= high)",
    "biological_noise_sd": "sd of the log of the per-cell, per-gene noise, which propagates downstream",
    "library_size_sd": "sd of the log of the library size",
    "mean_library_size": "expected total counts per cell",
    "dropout_percentile": "percentile of log expression at which a value is kept with probability 0.5; 0 turns dropout off",
    "dropout_steepness": "slope of the dropout curve",
    "count_overdispersion": "negative-binomial overdispersion; 0 gives Poisson counts",
}


