"""g:Profiler backend: one batched g:GOSt query for all gene lists, with timeout, retries and cache.

The official client (``gprofiler-official`` 1.0.0, ``GProfiler.profile``) posts JSON to
``{base_url}/api/gost/profile/`` but offers no timeout and no retry, so a stalled service would hang
a workflow job forever. This module sends the very request body the client builds (a test posts
both to a loopback server and compares them) with ``requests`` directly, adding a timeout,
bounded retries with exponential back-off on 5xx, 429, timeouts and connection errors, and the
disk cache. The client itself is not imported here; only the tests use it, as the reference.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from pathlib import Path

import pandas as pd
import requests

from scrobin import __version__
from scrobin.enrichment.cache import cache_file, load_answer, query_key, store_answer
from scrobin.errors import ScrobinError

GOST_PATH = "/api/gost/profile/"
_RATE_LIMITED = 429


class GProfilerUnavailable(ScrobinError):
    """The service could not answer (unreachable, timed out, 5xx after retries, malformed answer).

    ``reason`` is the short cause the ``auto`` backend records when it falls back to the GMT.
    """

    def __init__(self, url: str, reason: str):
        super().__init__(
            f"g:Profiler at {url} is unavailable ({reason}): retry later, or set enrichment.backend "
            "to auto or gmt to use the offline gene sets"
        )
        self.reason = reason


def gost_payload(
    gene_lists: dict[str, list[str]],
    background: list[str],
    *,
    organism: str,
    sources: list[str],
    significance_method: str,
    threshold: float,
    all_results: bool,
) -> dict:
    """The g:GOSt request body, field for field what ``GProfiler.profile`` sends.

    A dict query runs all gene lists in one request (g:Profiler's multi-query); the background
    makes the domain custom (the genes the model saw); evidences are requested because they carry
    which query genes make up each intersection.
    """
    return {
        "organism": organism,
        "query": {name: list(genes) for name, genes in gene_lists.items()},
        "sources": list(sources),
        "user_threshold": threshold,
        "all_results": all_results,
        "no_evidences": False,
        "combined": False,
        "measure_underrepresentation": False,
        "no_iea": False,
        "numeric_ns": "",
        "domain_scope": "custom",
        "ordered": False,
        "significance_threshold_method": significance_method,
        "background": list(background),
    }


def post_gost(
    base_url: str,
    payload: dict,
    *,
    timeout_s: float,
    max_attempts: int,
    backoff_s: float,
    log: logging.Logger,
) -> dict:
    """POST the query and return the decoded answer, retrying transient failures.

    Waits ``backoff_s * 2**(attempt - 1)`` between attempts. A host that does not resolve or cannot
    be routed to means no network, so it raises ``GProfilerUnavailable`` at once. A 4xx other than 429 means the query
    itself is wrong (e.g. an unknown organism), so it raises ``ScrobinError`` at once and is never
    taken for an outage; transient failures that outlast ``max_attempts`` raise
    ``GProfilerUnavailable``.
    """
    url = base_url.rstrip("/") + GOST_PATH
    headers = {"User-Agent": f"scrobin/{__version__}"}
    failure = ""
    for attempt in range(1, max_attempts + 1):
        try:
            response = requests.post(url, json=payload, timeout=timeout_s, headers=headers)
        except requests.Timeout:
            failure = f"no answer within {timeout_s:g} s"
        except requests.ConnectionError as error:
            cause = _root_cause(error)
            failure = f"connection failed: {_one_line(cause)}"
            if _is_offline(cause):
                # No name resolution or no route: waiting seconds will not bring the network back,
                # and every enrich job of an offline run would otherwise spend its back-off waiting.
                raise GProfilerUnavailable(url, f"{failure} (no network; not retried)") from None
        else:
            if response.status_code == 200:
                try:
                    return response.json()
                except ValueError:
                    raise GProfilerUnavailable(url, "answer is not JSON") from None
            if response.status_code < 500 and response.status_code != _RATE_LIMITED:
                raise ScrobinError(
                    f"g:Profiler refused the query (HTTP {response.status_code}: {_service_message(response)}): "
                    "check enrichment.sources and the dataset's organism"
                )
            failure = f"HTTP {response.status_code}"
        if attempt < max_attempts:
            delay_s = backoff_s * 2 ** (attempt - 1)
            log.warning(
                "g:Profiler attempt %d/%d failed (%s); retrying in %g s", attempt, max_attempts, failure, delay_s
            )
            time.sleep(delay_s)
    raise GProfilerUnavailable(url, f"{failure}, after {max_attempts} attempt(s)")


def gost_rows(answer: dict, gene_lists: dict[str, list[str]]) -> pd.DataFrame:
    """Map g:GOSt result records to the common columns.

    g:Profiler reports only adjusted p-values (``p_value``), so ``p_value_raw`` stays NaN. With
    evidences on, ``intersections`` holds one evidence list per mapped gene of the query (in
    ``genes_metadata`` order); a non-empty list marks a gene of the intersection, which is turned
    back into the symbol the caller sent and listed in query order.
    """
    genes_of_query = answer["meta"]["genes_metadata"]["query"]
    records = []
    for result in answer["result"]:
        query_genes = genes_of_query[result["query"]]
        symbols_of_id: dict[str, list[str]] = {}
        for symbol, gene_ids in query_genes["mapping"].items():
            for gene_id in gene_ids:
                symbols_of_id.setdefault(gene_id, []).append(symbol)
        shared = {
            symbol
            for gene_id, evidence in zip(query_genes["ensgs"], result["intersections"])
            if evidence
            for symbol in symbols_of_id.get(gene_id, [gene_id])
        }
        query_order = gene_lists.get(result["query"], [])
        ordered = [gene for gene in query_order if gene in shared]
        ordered += sorted(shared.difference(query_order))
        records.append(
            {
                "query": result["query"],
                "source": result["source"],
                "term_id": result["native"],
                "term_name": result["name"],
                "p_value": result["p_value"],
                "p_value_raw": float("nan"),
                "significant": result["significant"],
                "term_size": result["term_size"],
                "query_size": result["query_size"],
                "intersection_size": result["intersection_size"],
                "effective_domain_size": result["effective_domain_size"],
                "intersection": ",".join(ordered),
            }
        )
    return pd.DataFrame.from_records(records)


def query_gprofiler(
    gene_lists: dict[str, list[str]],
    background: list[str],
    *,
    organism: str,
    sources: list[str],
    significance_method: str,
    threshold: float,
    all_results: bool,
    gprofiler_url: str,
    timeout_s: float,
    max_attempts: int,
    backoff_s: float,
    cache_dir: str | Path | None,
    log: logging.Logger,
) -> tuple[pd.DataFrame, dict]:
    """Enrich all gene lists in one g:GOSt request, answering from the cache when it can.

    Returns the rows in the common columns and an info dict: ``cache`` ('hit', 'stored' or
    'off'), ``cache_file``, ``gprofiler_url`` and ``gprofiler_version`` (the data release that
    answered, for the methods section). Only answers that parse are cached, so an outage or a
    garbled answer is never replayed.
    """
    payload = gost_payload(
        gene_lists,
        background,
        organism=organism,
        sources=sources,
        significance_method=significance_method,
        threshold=threshold,
        all_results=all_results,
    )
    path = cache_file(cache_dir, query_key(payload)) if cache_dir is not None else None
    answer = load_answer(path) if path is not None else None
    cache_state = "hit" if answer is not None else ("stored" if path is not None else "off")
    if answer is None:
        answer = post_gost(
            gprofiler_url, payload, timeout_s=timeout_s, max_attempts=max_attempts, backoff_s=backoff_s, log=log
        )
    try:
        rows = gost_rows(answer, gene_lists)
        version = answer["meta"].get("version")
    except (KeyError, TypeError, AttributeError) as error:
        raise GProfilerUnavailable(gprofiler_url, f"malformed answer, missing {error}") from None
    if cache_state == "stored":
        store_answer(path, payload, answer, gprofiler_url)
    info = {
        "cache": cache_state,
        "cache_file": str(path) if path is not None else None,
        "gprofiler_url": gprofiler_url,
        "gprofiler_version": version,
    }
    return rows, info


def _service_message(response: requests.Response) -> str:
    """g:Profiler's own error message when it sent one, else the start of the body."""
    try:
        message = response.json().get("message", "")
    except (ValueError, AttributeError):
        message = response.text[:200]
    return _one_line(message) or "no message"


def _is_offline(cause: BaseException) -> bool:
    """Whether a connection failure means this machine has no network to reach the service: the
    host name does not resolve (``socket.gaierror``) or there is no route to it. Refused or reset
    connections and timeouts are not: a restarting or overloaded service is worth retrying."""
    return isinstance(cause, socket.gaierror) or getattr(cause, "errno", None) in (errno.ENETUNREACH, errno.EHOSTUNREACH)


def _root_cause(error: BaseException) -> BaseException:
    """The innermost exception (e.g. ``ConnectionRefusedError``) under requests' and urllib3's wrappers.

    Their own messages repeat host, port and URL at length; the root names the actual cause.
    """
    seen = set()
    while id(error) not in seen:
        seen.add(id(error))
        nested = getattr(error, "reason", None)
        if not isinstance(nested, BaseException):
            nested = error.__cause__ or error.__context__
        if nested is None:
            break
        error = nested
    return error


def _one_line(text: object) -> str:
    return " ".join(str(text).split())
