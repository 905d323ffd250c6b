"""Stage ``data`` (rule ``prepare``): load a source, check it, preprocess and split it.

``jobs`` holds the rule; ``datasets`` and ``sources`` read the configured sources, ``simulate`` makes
ground-truth data, ``preprocess`` builds the model input and ``prepare`` chains them; ``markers``
reads a dataset's known marker genes.
"""
