"""Model presets: the classifier's layers and regularisation, sized to the training set.

Kept free of torch so config validation (run while Snakemake builds the DAG) can check a config
against a preset without importing the training stack.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from scrobin.errors import ScrobinError

PAPER_HIDDEN_SIZES = (500, 250, 100, 80, 60, 40, 20)
# Dropout rate after the hidden layer with this (0-based) index: 0.1 after the 500-unit layer and
# 0.2 after the 60-unit layer, as in Sadria et al. 2023.
PAPER_DROPOUT_AFTER = {0: 0.1, 4: 0.2}
PRESETS = ("wide", "paper")
# Keys of the model and train sections that a preset fills when the config leaves them null.
PRESET_MODEL_KEYS = ("hidden_sizes", "dropout")
PRESET_TRAIN_KEYS = ("class_weighting", "batch_size")


def _power_of_two(value: float, low: int, high: int) -> int:
    return int(min(high, max(low, 2 ** round(math.log2(max(value, 1.0))))))


def preset_settings(preset: str, n_train_cells: int) -> dict:
    """The layers and regularisation of a model preset for a training set of ``n_train_cells``.

    ``paper`` is Sadria et al. 2023's network and optimisation. ``wide`` is one hidden layer of
    about one unit per two training cells (a power of two, 128-512), dropout 0.5, a class-balanced
    loss (rare types count as much as common ones in macro-F1) and batches giving ~8 optimiser
    steps per epoch (a power of two, 32-512 cells). On pbmc68k the paper's deep narrow stack loses
    0.18 test macro-F1 to a logistic regression on the same split while ``wide`` matches it (0.720
    vs 0.715, two seeds), and on the default simulation ``wide`` reaches 100% like the logistic
    regression (paper 92%); see ``benchmarks/bench_classifier.py``.

    Returns
    -------
    dict
        ``hidden_sizes``, ``dropout``, ``class_weighting``, ``batch_size``.
    """
    if preset == "paper":
        dropout = [PAPER_DROPOUT_AFTER.get(index, 0.0) for index in range(len(PAPER_HIDDEN_SIZES))]
        return {"hidden_sizes": list(PAPER_HIDDEN_SIZES), "dropout": dropout, "class_weighting": "none",
                "batch_size": 500}
    if preset == "wide":
        return {"hidden_sizes": [_power_of_two(n_train_cells / 2, 128, 512)], "dropout": [0.5],
                "class_weighting": "balanced", "batch_size": _power_of_two(n_train_cells / 8, 32, 512)}
    raise ScrobinError(f"model.preset '{preset}' is unknown: use wide or paper")


def resolve_model_config(config: Mapping, n_train_cells: int) -> tuple[dict, dict]:
    """The ``model`` and ``train`` sections with every null taken from the model preset.

    Explicit ``hidden_sizes`` without ``dropout`` get no dropout, so a user's layers are never
    mixed with a preset's rates for other layers. Every regime of a dataset trains on the same
    cells, so all get the same resolved settings.
    """
    model, train = dict(config["model"]), dict(config["train"])
    preset = preset_settings(model["preset"], n_train_cells)
    if model["hidden_sizes"] is not None and model["dropout"] is None:
        model["dropout"] = [0.0] * len(model["hidden_sizes"])
    for section, keys in ((model, PRESET_MODEL_KEYS), (train, PRESET_TRAIN_KEYS)):
        for key in keys:
            if section.get(key) is None:
                section[key] = preset[key]
    return model, train
