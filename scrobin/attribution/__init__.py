"""Attribution: which genes drive a classifier's call for each cell.

``compute_attributions`` runs one registered method on a set of cells and returns a cells x genes
array plus run information; ``METHODS`` is the registry (name -> function, parameters, accepted
baselines, description); ``validate_method_config`` and ``validate_baseline_spec`` check a
config entry and fill in defaults. Gradient methods (saliency, integrated gradients, DeepLIFT,
DeepSHAP, GradientSHAP) run through captum; KernelSHAP and LIME are batched over cells here;
activation maximization is gradient ascent from the baseline.
"""

from scrobin.attribution.baselines import BASELINE_CHOICES
from scrobin.attribution.params import OUTPUT_CHOICES
from scrobin.attribution.registry import (
    BASELINE_PARAMS,
    COMMON_PARAMS,
    METHODS,
    AttributionMethod,
    MethodSpec,
    ParamSpec,
    validate_baseline_spec,
    validate_method_config,
)

__all__ = [
    "BASELINE_CHOICES",
    "BASELINE_PARAMS",
    "COMMON_PARAMS",
    "METHODS",
    "OUTPUT_CHOICES",
    "AttributionMethod",
    "MethodSpec",
    "ParamSpec",
    "compute_attributions",
    "validate_baseline_spec",
    "validate_method_config",
]


def __getattr__(name: str):
    # compute_attributions needs torch and captum; loading it on first use keeps the registry
    # (and config validation, which only reads it) free of those imports.
    if name == "compute_attributions":
        from scrobin.attribution.compute import compute_attributions

        return compute_attributions
    raise AttributeError(f"module 'scrobin.attribution' has no attribute {name!r}")
