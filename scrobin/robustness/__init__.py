"""Stage ``robustness`` (rules ``robustness``, ``robustness_baseline``, ``robustness_curves``,
``eps_structure``): attack the models and measure what survives.

``jobs`` holds the rules; ``budget`` picks eps, ``sweep`` measures accuracy over an eps grid (the
networks and the logistic baseline, every attack crafted by ``scrobin.attacks`` against the model
evaluated), ``bracket`` the true robust accuracy between a certified lower bound and the strongest
attack and each cell's certified radius, ``linear_exact`` the exact robust accuracy of linear
classifiers (CellTypist, the logistic baseline), ``table`` the robustness table's columns and row
labels (torch-free), ``eps_structure`` how much of the data's structure an eps keeps, ``plots`` the
curves and radii without torch.
"""
