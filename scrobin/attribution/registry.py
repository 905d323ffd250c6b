"""The attribution method registry: one name -> one function, its parameters and baselines.

Every method has the captum-like signature of ``AttributionMethod``. Adding a method is one
function and one ``METHODS`` entry; the workflow, config validation and the benchmark pick it up
from here. Dispatch is by exact name and parameters are checked against the spec, so a typo is an
error rather than a silent switch to another method (a mistake in the paper's code).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from importlib import import_module
from typing import TYPE_CHECKING

from scrobin.attribution.baselines import BASELINE_CHOICES
from scrobin.attribution.params import (
    LIME_DISTANCES,
    OUTPUT_CHOICES,
    SALIENCY_TARGETS,
    ValueCheck,
    boolean,
    kernel_shap_min_samples,
    non_negative_float,
    one_of,
    optional,
    positive_float,
    positive_int,
)
from scrobin.errors import ScrobinError

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn


class AttributionMethod(Protocol):
    """``method(model, x, target, *, baseline, generator, device, batch_size, **params)``.

    ``model`` maps float32 cells x genes to cells x outputs (already in eval mode, on ``device``,
    output chosen by the ``output`` parameter); ``x`` is float32 cells x genes, ``target`` int
    class indices per cell, ``baseline`` float32 rows x genes, ``generator`` the only source of
    randomness, ``batch_size`` the most model rows per forward pass. Returns float32 cells x
    genes, or a dict of named cells x genes layers whose first entry is the main result.
    Keywords a method does not use are accepted and ignored.
    """

    def __call__(
        self,
        model: nn.Module,
        x: np.ndarray,
        target: np.ndarray,
        *,
        baseline: np.ndarray,
        generator: np.random.Generator,
        device: torch.device,
        batch_size: int,
        **params: object,
    ) -> np.ndarray | dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class ParamSpec:
    """One method parameter: its default, its check and what it means (for the config schema)."""

    default: object
    check: ValueCheck
    description: str


@dataclass(frozen=True)
class MethodSpec:
    """A registered method.

    Attributes
    ----------
    implementation
        Where the ``AttributionMethod`` lives, ``"module:function"``; it is imported on first
        use (``function``), so validating a config never loads torch or captum.
    description
        One line for listings and the config documentation.
    baselines
        Baseline kinds the method accepts; single-reference methods refuse ``train_sample``.
    default_baseline
        Baseline used when the config names none.
    params
        Method-specific parameters; ``COMMON_PARAMS`` are added to every method.
    input_multiplied
        Whether, given the method's effective parameters, its attributions are multiplied by the
        input's difference from the baseline (they then add up to an output difference, like
        captum's ``multiplies_by_inputs``), or are local slopes (gradients). The stability job
        picks its infidelity perturbation by it (:meth:`multiplies_by_inputs`); with
        :meth:`needs_background` and ``per_cell_design`` these are the properties callers ask a
        method, never a list of method names of their own.
    per_cell_design
        Whether the method samples a design per cell and takes ``design_of_cell`` (which cells
        share one), so re-explaining a perturbed cell can reuse its design.
    input_independent
        Whether the explanation depends on the target class only, not on the cell (activation
        maximisation): its sensitivity to input noise is zero by construction, so the stability
        job reports none rather than a "most stable" zero.
    sampling
        Whether the estimator averages over many draws per cell (coalitions, perturbations or
        background rows: hundreds to thousands of model rows per cell, against one to a few dozen
        for a gradient). Checks that explain the same cells many times (the sanity checks) give
        such a method fewer cells by default.
    min_samples
        Fewest ``n_samples`` the method can run with on a model of that many genes, or None
        when any budget runs; ``scrobin.preflight`` checks it against each dataset's model
        genes before any job.
    """

    implementation: str
    description: str
    baselines: tuple[str, ...]
    default_baseline: str
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    input_multiplied: Callable[[Mapping[str, object]], bool] = lambda params: True
    per_cell_design: bool = False
    input_independent: bool = False
    sampling: bool = False
    min_samples: Callable[[int], int] | None = None

    @property
    def function(self) -> AttributionMethod:
        module, name = self.implementation.split(":")
        return getattr(import_module(module), name)

    def multiplies_by_inputs(self, params: Mapping[str, object]) -> bool:
        """Whether attributions with these parameters (defaults filled in) are input-multiplied."""
        return bool(self.input_multiplied({**self.defaults, **params}))

    def needs_background(self, baseline: Mapping[str, object]) -> bool:
        """Whether the method with these baseline settings (its default baseline when unset) reads training cells.

        Callers pass ``background`` (training cells x genes) only then, so a method explained
        against zeros never densifies the training split.
        """
        from scrobin.attribution.baselines import TRAINING_CELL_BASELINES

        return baseline.get("baseline", self.default_baseline) in TRAINING_CELL_BASELINES

    @property
    def all_params(self) -> dict[str, ParamSpec]:
        return {**self.params, **COMMON_PARAMS}

    @property
    def defaults(self) -> dict[str, object]:
        return {name: spec.default for name, spec in self.all_params.items()}

    @property
    def allowed_params(self) -> tuple[str, ...]:
        return tuple(self.all_params)


COMMON_PARAMS = {
    "output": ParamSpec(
        "logits",
        one_of(*OUTPUT_CHOICES),
        "Model output attributed: 'logits' (default; no softmax saturation, additive) or "
        "'probabilities' (softmax, as the paper's Keras model).",
    ),
    "batch_size": ParamSpec(
        8192,
        positive_int,
        "Most model rows in one forward pass (cells x steps, samples or coalitions): bounds "
        "memory.",
    ),
}

BASELINE_PARAMS = {
    "baseline": "Reference input: zeros (the mean of scaled data), train_mean or train_sample.",
    "n_baseline_samples": "Training cells drawn (seeded) for train_sample; default 100.",
}
DEFAULT_N_BASELINE_SAMPLES = 100

SINGLE_REFERENCE = ("zeros", "train_mean")

METHODS: dict[str, MethodSpec] = {
    "saliency": MethodSpec(
        "scrobin.attribution.gradients:saliency",
        "Input gradient of the target class score or of the cross-entropy loss.",
        BASELINE_CHOICES,
        "zeros",
        {
            "gradient_of": ParamSpec(
                "class",
                one_of(*SALIENCY_TARGETS),
                "'class' score, cross-entropy 'loss', or 'both' (class as main result, both as "
                "layers 'class' and 'loss').",
            ),
            "absolute": ParamSpec(False, boolean, "Return |gradient| (classic saliency map)."),
        },
        input_multiplied=lambda params: False,
    ),
    "integrated_gradients": MethodSpec(
        "scrobin.attribution.gradients:integrated_gradients",
        "Integrated gradients from the baseline (captum).",
        SINGLE_REFERENCE,
        "zeros",
        {
            "n_steps": ParamSpec(50, positive_int, "Quadrature points along the path."),
            "multiply_by_inputs": ParamSpec(
                True, boolean, "Multiply by (x - baseline); false gives path-averaged gradients."
            ),
        },
        input_multiplied=lambda params: params["multiply_by_inputs"],
    ),
    "deeplift": MethodSpec(
        "scrobin.attribution.gradients:deeplift", "DeepLIFT rescale rule against the baseline (captum).", SINGLE_REFERENCE, "zeros"
    ),
    "deepshap": MethodSpec(
        "scrobin.attribution.gradients:deeplift",
        "DeepLIFT averaged over a background sample, as shap.DeepExplainer (captum DeepLiftShap).",
        BASELINE_CHOICES,
        "train_sample",
        sampling=True,
    ),
    "gradientshap": MethodSpec(
        "scrobin.attribution.gradients:gradientshap",
        "Expected gradients over a background sample, as shap.GradientExplainer (captum).",
        BASELINE_CHOICES,
        "train_sample",
        {
            # 100 draws: per-type importance within Spearman 0.99 and top-20 overlap 0.975 of
            # 400 draws on pbmc68k and the default simulation (benchmarks/bench_convergence.py).
            "n_samples": ParamSpec(
                100, positive_int, "Random draws per cell (shap's default is 200; 100 measured converged)."
            ),
            "stdevs": ParamSpec(0.0, non_negative_float, "Gaussian noise SD added to the cell."),
        },
        sampling=True,
    ),
    "kernelshap": MethodSpec(
        "scrobin.attribution.kernel_shap:kernelshap",
        "KernelSHAP batched over cells with exact efficiency (sum = f(x) - E f(baseline)).",
        BASELINE_CHOICES,
        "zeros",
        {
            "n_samples": ParamSpec(
                None,
                optional(positive_int),
                "Coalitions per cell; null = 3 x genes + 3072 (the smallest measured converged; "
                "shap's 2 x genes + 2048 is not on pbmc68k), at most all 2^genes - 2 (exact Shapley values).",
            ),
        },
        per_cell_design=True,
        sampling=True,
        min_samples=kernel_shap_min_samples,
    ),
    "lime": MethodSpec(
        "scrobin.attribution.lime_surrogate:lime",
        "LIME ridge surrogate on binary kept/replaced genes, batched over cells.",
        BASELINE_CHOICES,
        "zeros",
        {
            # 2500: per-type importance within Spearman 0.962 / 0.975 and top-20 overlap 0.994 /
            # 0.98 of 10000 (simulation / pbmc68k; seed 1: 0.959 / 0.973); 2000 left the
            # simulation at 0.924 (benchmarks/bench_convergence.py).
            "n_samples": ParamSpec(
                2500, positive_int, "Perturbations per cell (LIME's default is 5000; 2500 is the smallest measured converged)."
            ),
            "kernel_width": ParamSpec(0.25, positive_float, "Width of exp(-d^2/width^2)."),
            "distance": ParamSpec("cosine", one_of(*LIME_DISTANCES), "Distance to the cell."),
            "alpha": ParamSpec(1.0, non_negative_float, "Ridge penalty (LIME's Ridge(alpha=1))."),
        },
        per_cell_design=True,
        sampling=True,
    ),
    "activation_maximization": MethodSpec(
        "scrobin.attribution.activation_max:activation_maximization",
        "Per-class input maximising the class score near the baseline, minus the baseline.",
        SINGLE_REFERENCE,
        "zeros",
        {
            "steps": ParamSpec(200, positive_int, "Adam ascent steps."),
            "lr": ParamSpec(0.1, positive_float, "Adam step size."),
            "l2": ParamSpec(0.01, non_negative_float, "Weight of |z - baseline|^2 (penalty)."),
        },
        input_multiplied=lambda params: False,
        input_independent=True,
    ),
}


def method_spec(name: str) -> MethodSpec:
    """The registered spec of ``name``, or a one-line error listing the valid methods."""
    if name not in METHODS:
        raise ScrobinError(
            f"attribution method '{name}' is unknown: use one of {', '.join(METHODS)}"
        )
    return METHODS[name]


def validate_method_config(name: str, params: Mapping[str, object] | None) -> dict[str, object]:
    """Check a method's parameters and return them with defaults filled in.

    Raises
    ------
    ScrobinError
        One line naming the unknown method, the unknown parameter or the bad value, with the
        valid choices.
    """
    spec = method_spec(name)
    params = {} if params is None else params
    if not isinstance(params, Mapping):
        raise ScrobinError(
            f"parameters of attribution method '{name}' must be a mapping, got {params!r}"
        )
    allowed = spec.all_params
    for key in params:
        if key not in allowed:
            raise ScrobinError(
                f"attribution method '{name}' has no parameter '{key}': "
                f"valid parameters are {', '.join(allowed)}"
            )
    effective = spec.defaults
    for key, value in params.items():
        try:
            effective[key] = allowed[key].check(value)
        except ValueError as problem:
            raise ScrobinError(
                f"attribution method '{name}': parameter '{key}' {problem}"
            ) from None
    return effective


def validate_baseline_spec(
    name: str, baseline_spec: Mapping[str, object] | None
) -> dict[str, object]:
    """Check ``{baseline, n_baseline_samples}`` for method ``name`` and fill in defaults.

    The default baseline is the method's own (``train_sample`` for DeepSHAP and GradientSHAP,
    ``zeros`` otherwise). Single-reference methods (integrated gradients, DeepLIFT, activation
    maximization) refuse ``train_sample``.
    """
    spec = method_spec(name)
    baseline_spec = {} if baseline_spec is None else baseline_spec
    for key in baseline_spec:
        if key not in BASELINE_PARAMS:
            raise ScrobinError(
                f"baseline setting '{key}' is unknown: "
                f"valid settings are {', '.join(BASELINE_PARAMS)}"
            )
    kind = baseline_spec.get("baseline", spec.default_baseline)
    if kind not in spec.baselines:
        raise ScrobinError(
            f"attribution method '{name}' cannot use baseline {kind!r}: use one of "
            f"{', '.join(spec.baselines)}"
        )
    try:
        n_samples = positive_int(
            baseline_spec.get("n_baseline_samples", DEFAULT_N_BASELINE_SAMPLES)
        )
    except ValueError as problem:
        raise ScrobinError(f"baseline setting 'n_baseline_samples' {problem}") from None
    return {"baseline": kind, "n_baseline_samples": n_samples}


def split_method_entry(name: str, entry: Mapping) -> tuple[dict, dict]:
    """Split one ``attribution.methods`` entry into (method parameters, baseline settings)."""
    entry = dict(entry or {})
    baseline = {key: entry.pop(key) for key in list(entry) if key in BASELINE_PARAMS}
    return entry, baseline
