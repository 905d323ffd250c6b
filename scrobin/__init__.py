"""scrobin: robust and explained single-cell cell-type classifiers.

The package holds all logic; the Snakemake workflow only calls it. One subpackage per stage, in
the order the imports run (a module imports only from its own layer or a lower one, checked by
``tests/test_layers.py``); each stage has a ``jobs`` module whose functions are the rules of
``workflow/rules/<stage>.smk`` (the top layer) and declares its config sections
(``config.schema.yaml`` and ``config.py``):

``data``
    Load a source (``datasets``, ``simulate``), check it (``checks``), preprocess it
    (``preprocess``, block-wise for large files with ``chunked_io``; ``prepare``), read it as the
    model sees it (``model_input``); known marker genes (``markers``).
``attacks``
    Adversarial examples: a model and cells in, attacked cells out (``gradient``: native FGSM and
    PGD; ``art``: any ART evasion attack; ``specs`` checks their settings; ``run`` dispatches).
``model``
    Fit (``classifier``, ``network``, ``training``, ``presets``), store (``store``) and check
    (``check``) classifiers; the logistic-regression reference (``logistic``); figures (``plots``).
``robustness``
    The attack budget (``budget``), accuracy under attack (``sweep``), structure under attack
    (``eps_structure``), ``plots``.
``attribution``
    The method registry and its methods; per-type gene ``importance`` and the ``consensus``.
``evaluation``
    Key-gene recovery (``ground_truth``), DE overlap (``de``), ``faithfulness``, ``stability``,
    ``figures``.
``enrichment``
    Gene-set enrichment: g:Profiler online, a GMT file offline.
``compare``
    Every dataset, regime and replicate side by side (``results`` reads the run, ``summary``
    builds the tables, ``seeds`` the means, spreads and paired differences, ``figure`` the figure).

Shared helpers at the bottom: ``contract`` (the AnnData keys), ``prepared_layout`` (where the
log-normalised values are), ``cells`` (cell sampling, densifying), ``inference`` (eval mode,
batched prediction), ``metrics``, ``figures``, ``tables``, ``validators``, ``schema`` (the schema
machinery), ``errors``, ``runtime``, ``paths``, ``adam``. At the top, beside the jobs: ``config``
(composes the stages' config sections), ``preflight`` (every check that can run before any job),
``config_docs`` and ``entrypoint``.
"""

__version__ = "0.2.0"
