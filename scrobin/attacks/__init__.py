"""Stage ``attacks``: adversarial examples against a classifier (a model and cells in, attacked
cells out), the layer that adversarial training (``scrobin.model``) and the robustness
evaluation (``scrobin.robustness``) both build on.

``specs`` checks and normalises attack settings without importing torch; ``gradient`` holds the
native batched FGSM and PGD; ``apgd`` AutoAttack's APGD-CE and APGD-T and the worst case over a
list of attacks; ``art`` runs any evasion attack of the Adversarial Robustness Toolbox; ``run`` is
the one entry point for a spec. ``bounds`` is the other side of the bracket: what no attack in an
L-inf box can do (IBP and CROWN bound propagation, certification, certified radii, the worst-case
logits of certified training).
"""
