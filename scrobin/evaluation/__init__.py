"""Evaluation of gene rankings: does an explanation find what is known, and is it faithful?

One module per question: ``ground_truth`` (key genes of simulated data recovered beyond chance),
``de`` (overlap with differential expression), ``baselines`` (the logistic regression's
coefficient ranking, CellTypist's markers), ``sanity`` (do explanations change when the model is
randomised), ``faithfulness`` (deletion and insertion curves), ``stability`` (captum's
sensitivity and infidelity), and ``figures`` (their plots). Every
comparison carries its chance baseline, since the published key-gene counts were below chance.
"""

# Names under which the reference rankings appear beside the attribution methods in every table.
CONSENSUS = "consensus"
DE_RANKING = "DE (wilcoxon)"
LOGISTIC_RANKING = "logistic coefficients"
CELLTYPIST_RANKING = "CellTypist markers"
