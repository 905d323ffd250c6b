"""Stage ``data`` (rule ``prepare``): load a source, check it, preprocess and split it.

``jobs`` holds the rule; ``datasets`` reads the configured sources, ``checks`` refuses bad cells in
one line, ``simulate`` makes ground-truth data, ``preprocess`` builds the model input (block by
block with ``chunked_io`` for files too large to read whole) and ``prepare`` chains them;
``model_input`` reads a prepared dataset's cells as the model sees them (the scaling applied per
batch); ``markers`` reads a dataset's known marker genes; ``query`` checks new cells, aligns their
genes with a model's and replays its transform on them.
"""
