"""scrobin: robust and explained single-cell cell-type classifiers.

The package holds all logic; the Snakemake workflow only calls it. Each module has one job:
``datasets`` loads sources, ``checks`` validates inputs, ``preprocess`` builds the model input,
``simulate`` makes ground-truth data, ``model`` trains and stores classifiers, ``attacks`` crafts
adversarial examples, ``attribution`` explains predictions, ``enrichment`` annotates gene lists.
"""

__version__ = "0.1.0"
