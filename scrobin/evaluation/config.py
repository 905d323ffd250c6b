"""Stage ``evaluation``'s config: the ``evaluation`` section. Its keys, types and ranges are all a
schema can say (``config.schema.yaml`` beside this file), so there is no further check."""

from __future__ import annotations

from pathlib import Path

from scrobin.schema import load_fragment

SCHEMA = load_fragment(Path(__file__).parent)


def check(config: dict) -> None:
    """Nothing beyond the schema."""
