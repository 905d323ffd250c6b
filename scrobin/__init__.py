"""scrobin: robust and explained single-cell cell-type classifiers.

The package holds all logic; the Snakemake workflow only calls it. One subpackage per stage, each
with a ``jobs`` module whose functions are the rules of ``workflow/rules/<stage>.smk``:

``data``
    Load a source (``datasets``, ``sources``, ``simulate``), check it (``checks``), preprocess it
    (``preprocess``, block-wise for large files with ``chunked_io``; ``prepare``); known marker
    genes (``markers``).
``model``
    Fit (``classifier``, ``network``, ``training``, ``presets``), store (``store``) and check
    (``check``) classifiers; the logistic-regression reference (``logistic``); figures (``plots``).
``robustness``
    Adversarial examples (``attacks``, ``attack_specs``), the attack budget (``budget``),
    accuracy under attack (``sweep``), structure under attack (``eps_structure``), ``plots``.
``attribution``
    The method registry and its methods; per-type gene ``importance`` and the ``consensus``.
``evaluation``
    Key-gene recovery (``ground_truth``), DE overlap (``de``), ``faithfulness``, ``stability``,
    ``figures``.
``enrichment``
    Gene-set enrichment: g:Profiler online, a GMT file offline.
``compare``
    Every dataset, regime and replicate side by side (``summary``: means and spreads over seeds,
    the paired adversarial-vs-standard differences, the figure).

Shared by the stages: ``contract`` (the AnnData keys), ``prepared_layout`` (where the
log-normalised values are) and ``data.model_input`` (the one reader of model input), ``cells`` (cell
sampling, densifying), ``inference`` (eval mode, batched prediction), ``metrics``, ``figures``,
``tables``, ``validators`` (value checks); and ``config``, ``schema``, ``config_docs``,
``entrypoint``, ``errors``, ``runtime``, ``paths``.
"""

__version__ = "0.1.0"
