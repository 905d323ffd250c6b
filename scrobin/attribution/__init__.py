"""Attribution: which genes drive a classifier's call for each cell.

``compute_attributions`` runs one registered method on a set of cells and returns a cells x genes
array plus run information; ``METHODS`` is the registry (name -> function, parameters, accepted
baselines, description); ``validate_method_config`` and ``validate_baseline_spec`` check a
config entry and fill in defaults. Gradient methods (saliency, integrated gradients, DeepLIFT,
DeepSHAP, GradientSHAP) run through captum; KernelSHAP and LIME are batched over cells here;
activation maximization is gradient ascent from the baseline.
"""

from scrobin.attribution.baselines import BASELINE_CHOICES
from scrobin.attribution.compute import compute_attributions
from scrobin.attribution.explained_model import OUTPUT_CHOICES
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
