"""Where relative paths in a config point: the working directory first, then the files shipped
with scrobin.

The gene sets and marker lists scrobin ships live inside the package (``scrobin/resources/``), so a
config naming ``resources/genesets/...`` finds them whether scrobin runs from a clone, was
installed into a rule's environment, or is deployed as a Snakemake module elsewhere; a run started
with ``--directory`` elsewhere still finds them under the same relative names. In a source
checkout, paths relative to its root (the tests' data) are found too.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# The source checkout holding the package, when scrobin runs from one (its tests' data live there).
CHECKOUT = PACKAGE.parent


def resolve_path(path: str, base_dir: str | Path = ".") -> str:
    """``path`` as given when it exists relative to ``base_dir``; else the shipped file of that
    relative name (inside the package, then the source checkout) when there is one; else ``path``."""
    candidate = Path(base_dir) / path
    if Path(path).is_absolute() or candidate.exists():
        return path
    for root in (PACKAGE, CHECKOUT):
        shipped = root / path
        if shipped.exists():
            return str(shipped)
    return path
