"""Checks of values handed to the library, one line each: the one home of "is this a number, a
count, an existing obs column". The config's shape, types and defaults are checked once by its
schema (``scrobin.config``); these serve the checks a schema cannot express and the library's
own boundaries (a function called from Python, not from the workflow).
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

from scrobin.errors import ScrobinError

if TYPE_CHECKING:  # anndata is not imported at run time: the config checks use this module too
    import anndata as ad


def is_integer(value: object) -> bool:
    """Whether ``value`` is an integer (Python or numpy); ``True``/``False`` are not."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """Whether ``value`` is a real number (Python or numpy, int or float); booleans are not."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def require_positive_int(value: object, what: str) -> int:
    """Return ``value`` if it is an integer >= 1.

    Raises
    ------
    ScrobinError
        ``"<what> must be a positive integer, got <value>"``.
    """
    if not (is_integer(value) and value >= 1):
        raise ScrobinError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


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
