"""Checks of values handed to the library (not the config: that is ``scrobin.config``), one line each."""

from __future__ import annotations

import anndata as ad

from scrobin.errors import ScrobinError


def require_obs_and_layer(adata: ad.AnnData, obs_key: str, layer: str | None, setting: str) -> None:
    """Check that ``adata.obs[obs_key]`` and ``adata.layers[layer]`` (unless None: ``X``) exist.

    Raises
    ------
    ScrobinError
        Naming the missing column (and ``setting``, the argument that chose it) or layer, with
        the ones the AnnData has.
    """
    if obs_key not in adata.obs:
        raise ScrobinError(f"obs has no column '{obs_key}': set {setting} to one of "
                           f"{', '.join(map(str, adata.obs.columns))}")
    if layer is not None and layer not in adata.layers:
        raise ScrobinError(f"layer '{layer}' is missing: use one of "
                           f"{', '.join(adata.layers) or 'X'}")
