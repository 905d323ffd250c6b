"""Attribution: which genes drive a classifier's call for each cell.

``jobs`` holds the rules ``attribute`` and ``consensus``; ``importance`` turns attributions into
per-type gene rankings and ``consensus`` counts the methods' votes. ``compute_attributions`` runs
one registered method on a set of cells and returns a cells x genes array plus run information; ``METHODS`` is the registry (name -> function, parameters, accepted
baselines, description); ``validate_method_config`` and ``validate_baseline_spec`` check a
config entry and fill in defaults. Gradient methods (saliency, integrated gradients, DeepLIFT,
DeepSHAP, GradientSHAP) run through captum; KernelSHAP and LIME are batched over cells here;
activation maximization is gradient ascent from the baseline.
"""

from importlib import import_module

# Each public name and the module that defines it. They load on first use, so that the stage's
# torch-free modules (importance, consensus) and config validation do not import torch and captum.
_HOMES = {
    "BASELINE_CHOICES": "baselines",
    "OUTPUT_CHOICES": "params",
    "BASELINE_PARAMS": "registry",
    "COMMON_PARAMS": "registry",
    "METHODS": "registry",
    "AttributionMethod": "registry",
    "MethodSpec": "registry",
    "ParamSpec": "registry",
    "validate_baseline_spec": "registry",
    "validate_method_config": "registry",
    "compute_attributions": "compute",
}

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
    if name in _HOMES:
        return getattr(import_module(f"scrobin.attribution.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'scrobin.attribution' has no attribute {name!r}")
