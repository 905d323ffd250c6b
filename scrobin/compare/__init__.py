"""The comparison stage: every dataset, regime and replicate of a run side by side.

``summary`` builds the tables and the figure from the finished per-dataset results; ``jobs`` holds
the ``compare`` rule.
"""
