"""Stage ``model``'s config: ``model``, ``model_check``, ``train`` and ``adversarial_training``.

The schema fragment (``config.schema.yaml`` beside this file) holds every key, default and
description; :func:`check` adds what a schema cannot express.
"""

from __future__ import annotations

from pathlib import Path

from scrobin.errors import ScrobinError
from scrobin.model.presets import preset_settings
from scrobin.schema import load_fragment

SCHEMA = load_fragment(Path(__file__).parent)


def check(config: dict) -> None:
    """One dropout rate per hidden layer, whether the layers are given or come from the preset.

    Raises
    ------
    ScrobinError
        Naming both lengths and the fix.
    """
    model = config["model"]
    if model["dropout"] is None:
        return
    hidden_sizes = model["hidden_sizes"]
    source = "model.hidden_sizes"
    if hidden_sizes is None:
        # A preset's depth does not depend on the data; its widths do, so any cell count will do.
        hidden_sizes = preset_settings(model["preset"], n_train_cells=1)["hidden_sizes"]
        source = f"the {model['preset']} preset"
    if len(model["dropout"]) != len(hidden_sizes):
        raise ScrobinError(
            f"config: model.dropout has {len(model['dropout'])} rates but {source} has "
            f"{len(hidden_sizes)} layers: give one dropout rate per hidden layer"
        )
