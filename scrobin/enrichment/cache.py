"""Disk cache of g:Profiler answers, keyed by the full query, so reruns never ask the service again.

The key hashes the request body (genes, organism, sources, method, threshold, background, every
flag), not the URL: a mirror answers the same question. Files are JSON, one per query, written
atomically so parallel Snakemake jobs never read half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path


def query_key(payload: dict) -> str:
    """SHA-256 of the payload in canonical JSON (sorted keys), so equal queries share a key."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def cache_file(cache_dir: str | Path, key: str) -> Path:
    """Where the answer to the query with this key lives."""
    return Path(cache_dir) / f"gost_{key}.json"


def load_answer(path: Path) -> dict | None:
    """The cached service answer, or None when there is none or it cannot be read back."""
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)["response"]
    except (OSError, ValueError, KeyError):
        return None


def store_answer(path: Path, payload: dict, response: dict, url: str) -> None:
    """Write the answer with the request and its provenance (URL, time), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "url": url,
        "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "request": payload,
        "response": response,
    }
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".gost_", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(record, stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
