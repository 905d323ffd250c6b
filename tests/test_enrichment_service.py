"""The g:Profiler backend against a loopback server that speaks the g:GOSt API.

The server answers POST /api/gost/profile/ in g:Profiler's JSON shape (multi-query, evidences,
gene mapping), or fails on purpose: 5xx, 429, 4xx, a slow answer, a garbled answer. A refused
connection uses a port that is bound but not listening, so nothing can answer it.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from gprofiler import GProfiler

from scrobin.enrichment import ENRICHMENT_COLUMNS, GProfilerUnavailable, enrich
from scrobin.enrichment import gprofiler as gprofiler_module
from scrobin.enrichment.gprofiler import gost_payload
from scrobin.errors import ScrobinError

BACKGROUND = [f"G{index:02d}" for index in range(40)]
GENE_LISTS = {"B cell": ["G03", "G00", "G01", "G02", "G20"], "T cell": ["G20", "G21", "G22", "G39"]}
# Fake annotation: term id -> (source, name, genes, adjusted p the service reports).
TERMS = {
    "GO:0000001": ("GO:BP", "fake process", {"G00", "G01", "G02", "G03"}, 1e-4),
    "GO:0000002": ("GO:CC", "fake component", {"G20", "G21", "G22"}, 2e-3),
    "REAC:R-HSA-1": ("REAC", "fake pathway", {"G00", "G20"}, 0.2),
}
SERVICE_VERSION = "e111_eg58_p18_test"


def gost_answer(body: dict) -> dict:
    """What g:GOSt returns for a body: results, plus genes_metadata to decode intersections."""
    genes_metadata, results = {}, []
    for name, genes in body["query"].items():
        gene_ids = [f"ENSG{BACKGROUND.index(gene):011d}" for gene in genes]
        mapping = {gene: [gene_id] for gene, gene_id in zip(genes, gene_ids)}
        genes_metadata[name] = {"ensgs": gene_ids, "mapping": mapping}
        for term_id, (source, term_name, members, p_value) in TERMS.items():
            shared = [gene for gene in genes if gene in members]
            significant = p_value <= body["user_threshold"]
            if source not in body["sources"] or not shared or not (significant or body["all_results"]):
                continue
            results.append(
                {
                    "query": name,
                    "source": source,
                    "native": term_id,
                    "name": term_name,
                    "p_value": p_value,
                    "significant": significant,
                    "description": term_name,
                    "term_size": len(members),
                    "query_size": len(genes),
                    "intersection_size": len(shared),
                    "effective_domain_size": len(body["background"]),
                    "precision": len(shared) / len(genes),
                    "recall": len(shared) / len(members),
                    "parents": [],
                    "group_id": 1,
                    "intersections": [["IEA"] if gene in members else [] for gene in genes],
                }
            )
    return {
        "result": results,
        "meta": {
            "query_metadata": {"queries": body["query"], "organism": body["organism"], "sources": body["sources"]},
            "genes_metadata": {"query": genes_metadata, "failed": [], "ambiguous": {}, "duplicates": []},
            "result_metadata": {},
            "timestamp": "2024-01-01T00:00:00",
            "version": SERVICE_VERSION,
        },
    }


class FakeGost:
    """Loopback g:GOSt on an ephemeral port; records every request body it receives.

    ``mode``: 'ok', 'status' (answer ``status`` with a JSON message), 'slow' (wait ``delay_s``
    before answering), 'garbled' (200 with a body missing ``meta``).
    """

    def __init__(self, mode: str = "ok", status: int = 200, delay_s: float = 0.0):
        self.mode, self.status, self.delay_s = mode, status, delay_s
        self.bodies: list[dict] = []
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.bodies.append(body)
                if self.path != "/api/gost/profile/":
                    return self._send(404, {"message": "no such endpoint"})
                if fake.mode == "status":
                    return self._send(fake.status, {"message": f"fake failure {fake.status}"})
                if fake.mode == "slow":
                    fake.release.wait(fake.delay_s)
                if fake.mode == "garbled":
                    return self._send(200, {"result": []})
                return self._send(200, gost_answer(body))

            def _send(self, status, content):
                data = json.dumps(content).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout test); nothing to answer
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeGost:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def gmt_path(tmp_path):
    """A small offline library so the fallback has something to test."""
    path = tmp_path / "sets.gmt"
    members = {
        "REACTOME_FIRST": range(0, 8),
        "REACTOME_SECOND": range(8, 18),
        "REACTOME_THIRD": range(18, 26),
        "REACTOME_FOURTH": range(26, 40),
        "WP_FIFTH": range(30, 40),
    }
    lines = [[name, "url", *[f"G{index:02d}" for index in indices]] for name, indices in members.items()]
    path.write_text("".join("\t".join(line) + "\n" for line in lines))
    return path


@pytest.fixture
def refused_url():
    """A loopback port that is bound but not listening: connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def run(url, gmt_path, **options):
    settings = {"backend": "auto", "max_attempts": 2, "backoff_s": 0.01, "timeout_s": 2.0, "gmt_path": gmt_path}
    return enrich(GENE_LISTS, BACKGROUND, gprofiler_url=url, **{**settings, **options})


def test_payload_is_what_the_official_client_sends():
    with FakeGost() as service:
        GProfiler(base_url=service.url).profile(
            query=GENE_LISTS,
            organism="mmusculus",
            sources=["GO:BP", "REAC"],
            user_threshold=0.01,
            significance_threshold_method="fdr",
            background=BACKGROUND,
            no_evidences=False,
        )
    ours = gost_payload(
        GENE_LISTS,
        BACKGROUND,
        organism="mmusculus",
        sources=["GO:BP", "REAC"],
        significance_method="fdr",
        threshold=0.01,
        all_results=False,
    )
    assert ours == service.bodies[0]


def test_success_is_one_batched_request_mapped_to_the_common_columns(gmt_path):
    with FakeGost() as service:
        table, info = run(service.url, gmt_path, backend="gprofiler", sources=["GO:BP", "GO:CC", "REAC"])
    assert len(service.bodies) == 1
    body = service.bodies[0]
    assert body["query"] == GENE_LISTS
    assert body["domain_scope"] == "custom" and body["background"] == BACKGROUND
    assert body["significance_threshold_method"] == "fdr" and body["user_threshold"] == 0.05
    assert list(table.columns) == list(ENRICHMENT_COLUMNS)
    assert set(table["backend"]) == {"gprofiler"} and set(table["note"]) == {""}
    b_cell = table[table["query"] == "B cell"].set_index("term_id")
    assert list(b_cell.index) == ["GO:0000001", "GO:0000002"]  # REAC term p = 0.2 is not significant
    assert b_cell.loc["GO:0000001", "intersection"] == "G03,G00,G01,G02"  # query order
    assert b_cell.loc["GO:0000001", "p_value"] == pytest.approx(1e-4)
    assert b_cell.loc["GO:0000002", "intersection"] == "G20"
    assert b_cell.loc["GO:0000001", "effective_domain_size"] == len(BACKGROUND)
    assert table["p_value_raw"].isna().all()
    t_cell = table[table["query"] == "T cell"]
    assert t_cell["intersection"].tolist() == ["G20,G21,G22"]
    assert info["backend"] == "gprofiler" and info["fallback_reason"] is None
    assert info["gprofiler_version"] == SERVICE_VERSION and info["cache"] == "off"
    assert json.loads(json.dumps(info)) == info


def test_both_backends_give_the_same_columns_and_dtypes(gmt_path):
    with FakeGost() as service:
        online, _ = run(service.url, gmt_path, backend="gprofiler", sources=["REAC", "WP"], all_results=True)
    offline, _ = run(service.url, gmt_path, backend="gmt", sources=["REAC", "WP"], all_results=True)
    assert list(online.columns) == list(offline.columns) == list(ENRICHMENT_COLUMNS)
    assert online.dtypes.equals(offline.dtypes)
    assert not online.empty and not offline.empty


@pytest.mark.parametrize("status", [503, 429])
def test_transient_errors_are_retried_then_raised_in_gprofiler_mode(gmt_path, status):
    with FakeGost(mode="status", status=status) as service:
        with pytest.raises(GProfilerUnavailable, match=f"HTTP {status}") as error:
            run(service.url, gmt_path, backend="gprofiler", max_attempts=3)
    assert len(service.bodies) == 3
    assert "\n" not in str(error.value)


def test_server_error_in_auto_falls_back_and_says_so(gmt_path, caplog):
    with FakeGost(mode="status", status=500) as service, caplog.at_level(logging.WARNING):
        table, info = run(service.url, gmt_path, max_attempts=2)
    assert len(service.bodies) == 2
    assert info["backend"] == "gmt" and info["requested_backend"] == "auto"
    assert info["fallback_reason"] == "HTTP 500, after 2 attempt(s)"
    assert json.loads(json.dumps(info)) == info
    assert set(table["backend"]) == {"gmt"}
    assert set(table["note"]) == {"fallback: HTTP 500, after 2 attempt(s)"}
    assert any("using the offline gene sets" in record.getMessage() for record in caplog.records)
    offline, _ = run(service.url, gmt_path, backend="gmt")
    pd.testing.assert_frame_equal(table.drop(columns="note"), offline.drop(columns="note"))


def test_backoff_doubles_between_attempts(gmt_path, monkeypatch):
    delays = []
    monkeypatch.setattr(gprofiler_module.time, "sleep", delays.append)
    with FakeGost(mode="status", status=502) as service:
        run(service.url, gmt_path, max_attempts=4, backoff_s=0.25)
    assert len(service.bodies) == 4
    assert delays == [0.25, 0.5, 1.0]


def test_timeout_falls_back_without_waiting_for_the_slow_server(gmt_path):
    with FakeGost(mode="slow", delay_s=3.0) as service:
        started = time.perf_counter()
        table, info = run(service.url, gmt_path, timeout_s=0.3, max_attempts=1)
        elapsed_s = time.perf_counter() - started
    assert elapsed_s < 2.0
    assert info["fallback_reason"] == "no answer within 0.3 s, after 1 attempt(s)"
    assert set(table["backend"]) == {"gmt"}


def test_refused_connection_falls_back_in_auto_and_raises_in_gprofiler_mode(gmt_path, refused_url):
    table, info = run(refused_url, gmt_path)
    assert "connection refused" in info["fallback_reason"].lower()
    assert table["note"].str.startswith("fallback: connection failed").all()
    with pytest.raises(GProfilerUnavailable, match="Connection refused"):
        run(refused_url, gmt_path, backend="gprofiler")


def test_unresolvable_host_falls_back_at_once_without_retrying(gmt_path, monkeypatch):
    # ".invalid" never resolves (RFC 2606): what an offline machine sees for any host.
    waits = []
    monkeypatch.setattr("scrobin.enrichment.gprofiler.time.sleep", waits.append)
    table, info = run("http://gprofiler.invalid", gmt_path, max_attempts=4, backoff_s=5.0)
    assert "no network; not retried" in info["fallback_reason"]
    assert waits == []
    assert set(table["backend"]) == {"gmt"}


def test_refused_connection_is_retried_with_back_off(gmt_path, refused_url, monkeypatch):
    waits = []
    monkeypatch.setattr("scrobin.enrichment.gprofiler.time.sleep", waits.append)
    _, info = run(refused_url, gmt_path, max_attempts=3, backoff_s=0.5)
    assert waits == [0.5, 1.0]
    assert info["fallback_reason"].endswith("after 3 attempt(s)")


def test_rejected_query_is_an_error_not_an_outage(gmt_path):
    with FakeGost(mode="status", status=400) as service:
        with pytest.raises(ScrobinError, match="HTTP 400: fake failure 400") as error:
            run(service.url, gmt_path, max_attempts=3)
    assert not isinstance(error.value, GProfilerUnavailable)
    assert len(service.bodies) == 1


def test_garbled_answer_falls_back_and_is_not_cached(gmt_path, tmp_path):
    cache_dir = tmp_path / "cache"
    with FakeGost(mode="garbled") as service:
        _, info = run(service.url, gmt_path, cache_dir=cache_dir)
    assert info["fallback_reason"].startswith("malformed answer")
    assert not cache_dir.exists() or not list(cache_dir.iterdir())


def test_cache_answers_reruns_without_any_request(gmt_path, tmp_path, refused_url):
    cache_dir = tmp_path / "cache"
    with FakeGost() as service:
        first, first_info = run(service.url, gmt_path, backend="gprofiler", cache_dir=cache_dir)
        second, second_info = run(service.url, gmt_path, backend="gprofiler", cache_dir=cache_dir)
        assert len(service.bodies) == 1
        run(service.url, gmt_path, backend="gprofiler", cache_dir=cache_dir, threshold=0.01)
        assert len(service.bodies) == 2  # another threshold is another query
    assert (first_info["cache"], second_info["cache"]) == ("stored", "hit")
    assert first_info["cache_file"] == second_info["cache_file"]
    pd.testing.assert_frame_equal(first, second)
    offline_rerun, rerun_info = run(refused_url, gmt_path, backend="gprofiler", cache_dir=cache_dir)
    assert rerun_info["cache"] == "hit"
    pd.testing.assert_frame_equal(first, offline_rerun)
