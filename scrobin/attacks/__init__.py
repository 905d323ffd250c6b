"""Stage ``attacks``: adversarial examples against a classifier (a model and cells in, attacked
cells out), the layer that adversarial training (``scrobin.model``) and the robustness
evaluation (``scrobin.robustness``) both build on.

``specs`` checks and normalises attack settings without importing torch; ``gradient`` holds the
native batched FGSM and PGD; ``art`` runs any evasion attack of the Adversarial Robustness
Toolbox; ``run`` is the one entry point for a spec.
"""
