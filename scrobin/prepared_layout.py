"""Where a prepared dataset keeps its log-normalised values: the key and the one reader.

Kept apart from ``scrobin.data.model_input`` (which applies the scaling and needs the
preprocessing stack) so light stages (importance, consensus, enrichment) read the layout with
anndata alone.
"""

from __future__ import annotations

import anndata as ad

from scrobin.contract import LOGNORM_LAYER, SCROBIN_KEY, X_SCALED_KEY


def lognorm_expression(prepared: ad.AnnData):
    """Cells x genes log-normalised expression, or None when the dataset has none.

    ``layers["lognorm"]`` where present (inputs that arrived scaled keep it from ``.raw``), else
    ``X`` when it holds the unscaled log-normalised values (the sparse layout).
    """
    if LOGNORM_LAYER in prepared.layers:
        return prepared.layers[LOGNORM_LAYER]
    scaled_in_x = prepared.uns.get(SCROBIN_KEY, {}).get(X_SCALED_KEY, True)
    return None if scaled_in_x else prepared.X
