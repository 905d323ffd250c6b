"""Stage ``model`` (rules ``train``, ``adv_train``, ``logistic_baseline``): fit and store classifiers.

``jobs`` holds the rules; ``classifier`` fits one regime's network (``network``, ``training``,
``presets``), ``store`` saves and loads it without pickle, ``check`` flags models not worth
explaining, ``logistic`` is the logistic-regression classifier every network is checked against,
``celltypist_reference`` fits CellTypist on the same split (its own input, stored without pickle),
``annotate`` labels query cells with trained models.
"""
