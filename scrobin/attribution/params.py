"""Checks for single method parameter values.

Each check takes a value from the config and returns it (coerced where the config's YAML/JSON
types are looser than Python's, e.g. an integral float for an int) or raises ``ValueError`` with a
fragment such as ``"must be a positive integer, got -3"``. The registry prefixes the method and
parameter name, so the user sees one line that names what is wrong and what is allowed.
"""

from __future__ import annotations

from collections.abc import Callable

from scrobin.validators import is_real

ValueCheck = Callable[[object], object]

# Choices of string parameters, kept here (no torch or captum import) so the config can be
# validated without loading the methods.
OUTPUT_CHOICES = ("logits", "probabilities")
SALIENCY_TARGETS = ("class", "loss", "both")
LIME_DISTANCES = ("cosine", "hamming")


def kernel_shap_min_samples(n_genes: int) -> int:
    """Fewest KernelSHAP coalitions for ``n_genes`` genes: one per gene (fewer leave the weighted
    regression underdetermined), or all ``2^genes - 2`` when there are fewer than that."""
    return min(n_genes, 2**n_genes - 2)


def one_of(*options: str) -> ValueCheck:
    """Accept exactly one of ``options`` (a string choice such as ``class | loss | both``)."""

    def check(value: object) -> object:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {value!r}")
        return value

    return check


def boolean(value: object) -> bool:
    """Accept ``true``/``false`` only: 0/1 or strings would hide typos in the config."""
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def positive_int(value: object) -> int:
    """Accept an integer >= 1 (an integral float such as 50.0 from JSON is accepted)."""
    if not is_real(value) or int(value) != value or value < 1:
        raise ValueError(f"must be a positive integer, got {value!r}")
    return int(value)


def _real(value: object, minimum: float, inclusive: bool, wording: str) -> float:
    if not is_real(value) or not (value >= minimum if inclusive else value > minimum):
        raise ValueError(f"must be {wording}, got {value!r}")
    return float(value)


def positive_float(value: object) -> float:
    """Accept a real number > 0 (step sizes, kernel widths)."""
    return _real(value, 0.0, inclusive=False, wording="a number > 0")


def non_negative_float(value: object) -> float:
    """Accept a real number >= 0 (penalties, noise levels)."""
    return _real(value, 0.0, inclusive=True, wording="a number >= 0")


def optional(check: ValueCheck) -> ValueCheck:
    """Accept ``null`` (meaning "derive from the data", documented per parameter) or ``check``."""

    def check_or_none(value: object) -> object:
        return None if value is None else check(value)

    return check_or_none

