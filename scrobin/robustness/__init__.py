"""Stage ``robustness`` (rules ``robustness``, ``robustness_baseline``, ``robustness_curves``,
``eps_structure``): attack the models and measure what survives.

``jobs`` holds the rules; ``budget`` picks eps, ``sweep`` measures accuracy over an eps grid (the
networks and the logistic baseline, every attack crafted by ``scrobin.attacks`` against the model
evaluated), ``linear_exact`` computes the exact robust accuracy of linear classifiers (CellTypist,
the logistic baseline), ``eps_structure`` checks how much of the data's structure an eps keeps,
``plots`` draws the curves without torch.
"""
