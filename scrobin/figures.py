"""The one figure saver: every stage writes its PNG/SVG figures through :func:`save_figure`."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure


def save_figure(figure: Figure, path, dpi: int = 150, tight: bool = True) -> Path:
    """Write ``figure`` to ``path`` (format from the suffix), creating its folder; return the path.

    ``tight`` crops to the drawn content (``bbox_inches="tight"``), which keeps legends placed
    outside the axes; figures laid out with ``layout="constrained"`` pass ``tight=False``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, bbox_inches="tight" if tight else None)
    return path
