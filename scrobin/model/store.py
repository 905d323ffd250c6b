"""Model files: weights plus the metadata needed to use them correctly, without pickle.

A model file is a ``torch.save``d dict of tensors and one JSON string, so it loads with
``torch.load(weights_only=True)``: opening a model file from someone else never runs their code.
The metadata carries the classes, genes and preprocessing transform, so applying a model to
cells prepared differently fails with a clear error instead of silently predicting nonsense.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from scrobin.contract import SCROBIN_KEY
from scrobin.errors import ScrobinError
from scrobin.model.network import MLPClassifier

FORMAT_VERSION = 1


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_model(path: str | Path, model: MLPClassifier, metadata: Mapping) -> None:
    """Write weights and metadata (classes, genes, transform, training config, seed, metrics)."""
    meta = _jsonable(dict(metadata, architecture=model.architecture, format_version=FORMAT_VERSION))
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "metadata_json": json.dumps(meta)}, path)


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[MLPClassifier, dict]:
    """Rebuild the network from its file; returns (model in eval mode, metadata)."""
    if not Path(path).is_file():
        raise ScrobinError(f"model file '{path}' does not exist: run the train rule first")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    metadata = json.loads(payload["metadata_json"])
    model = MLPClassifier.from_architecture(metadata["architecture"])
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), metadata


def _same_transform(stored: Mapping, given: Mapping) -> str | None:
    """Name the first transform parameter that differs, or None when they agree."""
    for key in sorted(set(stored) | set(given)):
        a, b = stored.get(key), given.get(key)
        if key in ("scale_mean", "scale_std"):
            if a is None or b is None or not np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-6, atol=1e-9):
                return key
        elif _jsonable(a) != _jsonable(b):
            return key
    return None


def check_compatible(metadata: Mapping, gene_names, transform: Mapping) -> None:
    """Refuse cells whose genes or preprocessing differ from those the model was trained on."""
    genes = list(map(str, gene_names))
    expected = metadata["genes"]
    if genes != expected:
        missing = [g for g in expected if g not in set(genes)]
        detail = f"{len(missing)} model genes missing (e.g. '{missing[0]}')" if missing else "genes in another order"
        raise ScrobinError(
            f"the cells do not match the model: {detail}; prepare them with the model's transform "
            "(scrobin.data.preprocess.apply_transform)"
        )
    differing = _same_transform(metadata["transform"], transform)
    if differing is not None:
        raise ScrobinError(
            f"the cells were preprocessed differently from the model's training data (transform key "
            f"'{differing}' differs): prepare them with the model's transform"
        )


def load_model_for(path: str | Path, prepared, device: torch.device | str = "cpu") -> tuple[MLPClassifier, dict]:
    """Load a model and refuse it unless ``prepared`` holds cells in the model's input space."""
    model, metadata = load_model(path, device)
    check_compatible(metadata, prepared.var_names, prepared.uns[SCROBIN_KEY]["transform"])
    return model, metadata
