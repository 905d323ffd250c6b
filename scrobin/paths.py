"""Where relative paths in a config point: the working directory first, then the workflow checkout.

A run started with ``--directory`` elsewhere still finds files shipped with scrobin (gene sets,
test data) under the same relative names the default config uses.
"""

from __future__ import annotations

from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def resolve_path(path: str, base_dir: str | Path = ".") -> str:
    """``path`` as given when it exists relative to ``base_dir``, else inside the checkout if it exists there."""
    candidate = Path(base_dir) / path
    if Path(path).is_absolute() or candidate.exists():
        return path
    shipped = CHECKOUT / path
    return str(shipped) if shipped.exists() else path
