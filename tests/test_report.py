"""The HTML report of a finished run, opened in headless Chromium the way a reader opens it.

The Snakemake report is a React app whose figures exist only once its scripts have run, so the
raw HTML proves little: these checks click through the rendered page over the DevTools protocol
(a pipe to Chromium, no browser-automation package) and look at what it shows.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import REPO, snakemake

# CHROMIUM names another build (e.g. google-chrome on a CI host) when chromium is not installed.
CHROMIUM = shutil.which(os.environ.get("CHROMIUM", "chromium"))
# Without Chromium a developer's run skips here, before the DAG runs; CI must have it (fixture fails).
pytestmark = [
    pytest.mark.workflow,
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="chromium is not installed (apt-get install -y chromium)"),
]

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-pipe",
]
# Set on the page itself: headless --window-size sizes the window, and its frame eats into the page.
VIEWPORT = {"width": 1400, "height": 1000}
SMALL_VIEWPORT = {"width": 1024, "height": 700}
SUBCATEGORIES = {"1 classifier", "2 robustness", "3 interpretation", "4 evaluation"}
# Figures each dataset's category must show (from the report() outputs of the rule files): the
# simulation has ground truth to recover, the real dataset its markers to recover and enrichment.
FIGURES_OF_EVERY_DATASET = {
    "robustness_accuracy.png", "robustness_macro_f1.png", "eps_structure.png", "faithfulness.png", "stability.png",
}
# Figures of each replicate's models (results/{dataset}/seed{seed}/figures/).
FIGURES_OF_EVERY_REPLICATE = {
    "confusion_standard.png", "confusion_pgd.png", "training_standard.png", "consensus_standard.png", "de_venn_pgd.png",
}
FIGURES_OF_DATASET = {
    "tiny": FIGURES_OF_EVERY_DATASET | {"recovery.png"},
    "pbmc": FIGURES_OF_EVERY_DATASET | {"recovery.png"},
}
FIGURES_OF_REPLICATE = {
    "tiny": FIGURES_OF_EVERY_REPLICATE,
    "pbmc": FIGURES_OF_EVERY_REPLICATE | {"enrichment_pgd.png"},
}
SEED = yaml.safe_load((REPO / "config" / "test.yaml").read_text())["seed"]
# What make report passes: keeps tall figures scrollable from their top-left corner.
STYLESHEET = REPO / "workflow" / "report" / "report.css"

# Clicks through the report like a reader: every category and subcategory from the menu, every
# figure's view button; returns each row's labels and, for figures, the path and decoded size shown.
WALK_REPORT = """
async () => {
  const waitFor = async (check, what, limit = 10000) => {
    for (let waited = 0; !check(); waited += 20) {
      if (waited > limit) throw new Error(`timed out waiting for ${what}`);
      await new Promise(resolve => setTimeout(resolve, 20));
    }
  };
  const menuLinks = () => [...document.querySelectorAll("nav ul li a")];
  const menuTexts = () => menuLinks().map(a => a.textContent.trim());
  const click = (text) => {
    const link = menuLinks().find(a => a.textContent.trim() === text);
    if (link === undefined) throw new Error(`no menu entry '${text}' among ${menuTexts()}`);
    link.click();
  };
  const shownImage = () => [...document.querySelectorAll("#app img")].find(img => !img.closest("nav"));
  const general = new Set(["Workflow", "Statistics", "About"]);
  const categoryEntries = menuTexts().filter(name => !general.has(name));
  const shown = {};
  for (const categoryEntry of categoryEntries) {
    app.setView({navbarMode: "menu"});
    await waitFor(() => menuTexts().includes(categoryEntry), "the menu");
    click(categoryEntry);
    await waitFor(() => app.state.navbarMode !== "menu", `category ${categoryEntry}`);
    const category = app.state.category;
    // A category with a single subcategory opens straight onto its table.
    const subcategories = app.state.navbarMode === "category" ? menuTexts() : [app.state.subcategory];
    shown[category] = {};
    for (const subcategory of subcategories) {
      if (app.state.navbarMode !== "subcategory" || app.state.subcategory !== subcategory) {
        app.showCategory(category);
        await waitFor(() => menuTexts().includes(subcategory), `category ${category}`);
        click(subcategory);
      }
      await waitFor(() => document.querySelector("nav table tbody tr"), `${category} / ${subcategory}`);
      const entries = [];
      // A label with two values in half the rows each (e.g. model: standard / pgd) becomes a
      // toggle above the table: a reader flips it to reach the other half of the figures.
      const toggleValues = [...document.querySelectorAll("nav fieldset input[type=radio]")].map(input => input.value);
      for (const toggle of toggleValues.length ? toggleValues : [null]) {
        if (toggle !== null) {
          [...document.querySelectorAll("nav fieldset input[type=radio]")].find(input => input.value === toggle).click();
          await new Promise(resolve => setTimeout(resolve, 100));
        }
        for (const row of document.querySelectorAll("nav table tbody tr")) {
          const labels = [...row.querySelectorAll("td")].slice(0, -1).map(td => td.textContent.trim());
          if (toggle !== null) labels.push(toggle);
          const view = row.querySelector("td:last-child a");
          const entry = {labels};
          if (view.getAttribute("href") === "#") {
            const previous = app.state.resultPath;
            view.click();
            // Flipping a toggle may already show the row's result: then the path does not change.
            const changed = await waitFor(() => app.state.resultPath !== previous, "a new result", 500).then(() => true, () => false);
            await waitFor(() => changed || app.state.resultPath, `the result of ${labels}`);
            if (app.state.content === "html") {
              // A table's view: an HTML page in the result pane; its cells, as the frame holds them.
              await waitFor(() => document.querySelector("#app iframe")?.getAttribute("src") === app.state.contentPath,
                            `the table of ${labels}`);
              const page = new DOMParser().parseFromString(await (await fetch(app.state.contentPath)).text(), "text/html");
              Object.assign(entry, {path: app.state.resultPath, table_cells: page.querySelectorAll("td").length,
                                    table_columns: page.querySelectorAll("th").length,
                                    table_rows: page.querySelectorAll("tbody tr").length});
            } else {
              await waitFor(() => shownImage()?.getAttribute("src") === app.state.contentPath, `the figure of ${labels}`);
              const image = shownImage();
              await image.decode();
              // A reader sees the whole figure: scrolled to the start, its top-left corner is in the
              // pane (a centred flex box would push a tall figure's top out of scrolling reach).
              const pane = image.closest(".overflow-auto");
              pane.scrollTop = 0;
              pane.scrollLeft = 0;
              const box = image.getBoundingClientRect(), frame = pane.getBoundingClientRect();
              Object.assign(entry, {
                path: app.state.resultPath, width: image.naturalWidth, height: image.naturalHeight,
                top_clipped: frame.top - box.top, left_clipped: frame.left - box.left,
                bottom_reachable: pane.scrollHeight >= box.bottom - frame.top - 1,
              });
            }
          }
          entries.push(entry);
        }
      }
      shown[category][subcategory] = entries;
    }
  }
  return shown;
}
"""

# Each result's caption as the reader sees it (the HTML that the result view renders, as text).
CAPTION_TEXTS = """
Object.fromEntries(Object.entries(results).map(([path, result]) => [
  path, new DOMParser().parseFromString(result.caption, "text/html").body.textContent.trim(),
]))
"""


def pipe_above_devtools_fds() -> tuple[int, int]:
    """``os.pipe()`` with both ends numbered above 4, so moving them onto fds 3 and 4 clobbers neither."""
    ends = []
    for end in os.pipe():
        ends.append(fcntl.fcntl(end, fcntl.F_DUPFD_CLOEXEC, 5))
        os.close(end)
    return ends[0], ends[1]


class ChromiumPage:
    """One headless Chromium tab, driven over --remote-debugging-pipe.

    Chromium reads NUL-terminated DevTools messages on fd 3 and answers on fd 4; every event it sends
    (console calls, uncaught exceptions, log entries) is kept in ``events`` for the checks.
    """

    def __init__(self, chromium: str, profile: Path, timeout_s: float = 60.0, viewport: dict | None = None):
        browser_reads, self._to_browser = pipe_above_devtools_fds()
        self._from_browser, browser_writes = pipe_above_devtools_fds()
        # bash, not sh: dash takes only one-digit fd numbers in redirections.
        launcher = f'exec "$@" 3<&{browser_reads} 4>&{browser_writes} {browser_reads}<&- {browser_writes}>&-'
        self.process = subprocess.Popen(
            ["bash", "-c", launcher, "bash", chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(browser_reads, browser_writes), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(browser_reads)
        os.close(browser_writes)
        self.timeout_s = timeout_s
        self.events: list[dict] = []
        self._unread = b""
        self._last_id = 0
        self._session = None
        self.viewport = viewport or VIEWPORT
        try:
            self._attach_to_tab()
        except BaseException:
            self.close()
            raise

    def _attach_to_tab(self) -> None:
        page = next(target for target in self.call("Target.getTargets")["targetInfos"] if target["type"] == "page")
        self._session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Page.setLifecycleEventsEnabled", enabled=True)
        self.call("Emulation.setDeviceMetricsOverride", **self.viewport, deviceScaleFactor=1, mobile=False)

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._unread:
            if not select.select([self._from_browser], [], [], max(deadline - time.monotonic(), 0))[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise ConnectionError("Chromium closed the DevTools pipe")
            self._unread += chunk
        message, self._unread = self._unread.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, **params) -> dict:
        """Send one DevTools command to the tab (or the browser before attaching); return its result."""
        self._last_id += 1
        message = {"id": self._last_id, "method": method, "params": params}
        if self._session is not None:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout_s
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def open(self, url: str) -> None:
        """Navigate and return once this document's load event has fired (every inline script has run)."""
        loader = self.call("Page.navigate", url=url)["loaderId"]
        deadline = time.monotonic() + self.timeout_s
        while not any(
            event.get("method") == "Page.lifecycleEvent" and event["params"]["loaderId"] == loader
            and event["params"]["name"] == "load"
            for event in self.events
        ):
            self.events.append(self._receive(deadline))

    def evaluate(self, expression: str):
        """Value of a JavaScript expression in the page; promises are awaited."""
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Uncaught exceptions, console.error calls and error log entries seen so far."""
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event.get("method") == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(details.get("exception", {}).get("description", details["text"]))
            elif event.get("method") == "Runtime.consoleAPICalled" and params["type"] == "error":
                found.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"]))
            elif event.get("method") == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
        return found

    def close(self) -> None:
        """Close the browser; kill it if it no longer answers, so no Chromium outlives the test."""
        try:
            self.call("Browser.close")
            self.process.wait(timeout=self.timeout_s)
        except (OSError, RuntimeError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._to_browser)
            os.close(self._from_browser)


@pytest.fixture(scope="module")
def report(finished_run, tmp_path_factory) -> Path:
    """The report of the session's run, written beside it so the run's own folder stays as it was."""
    path = tmp_path_factory.mktemp("report") / "report.html"
    result = snakemake(finished_run, "--report", str(path), "--report-stylesheet", str(STYLESHEET))
    assert result.returncode == 0, result.stderr[-5000:]
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    """The browser; requested before the report, so a CI without it fails before the DAG runs."""
    assert CHROMIUM is not None, "chromium is not installed (apt-get install -y chromium); CI needs it"
    return CHROMIUM


def walk(chromium: str, report: Path, folder: Path, viewport: dict) -> dict:
    """The report clicked through in Chromium at one window size: what it showed, its errors and
    screenshots of the landing page (the verdict) and of the last result shown."""
    page = ChromiumPage(chromium, folder / "chromium-profile", viewport=viewport)
    size = f"{viewport['width']}x{viewport['height']}"
    try:
        page.open(report.as_uri())
        loaded = page.evaluate("getComputedStyle(document.querySelector('#loading-screen')).display === 'none'")
        landing = page.evaluate("document.querySelector('#app').innerText")
        screenshots = {"landing page": folder / f"landing_{size}.png"}
        screenshots["landing page"].write_bytes(base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"]))
        shown = page.evaluate(f"({WALK_REPORT})()")
        captions = page.evaluate(CAPTION_TEXTS)
        screenshots["last result"] = folder / f"last_result_{size}.png"
        screenshots["last result"].write_bytes(base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"]))
        errors = page.errors()
    finally:
        page.close()
    for what, path in screenshots.items():
        # Into the CI log, past pytest's capture: where to look when a report check fails.
        sys.__stderr__.write(f"report screenshot ({what}, {size}): {path}\n")
    return {"loaded": loaded, "landing": landing, "shown": shown, "captions": captions,
            "screenshot": screenshots["landing page"], "screenshots": screenshots, "errors": errors}


@pytest.fixture(scope="module")
def walked_report(chromium, report, tmp_path_factory):
    """The report clicked through once in Chromium at the usual window size."""
    return walk(chromium, report, tmp_path_factory.mktemp("walk"), VIEWPORT)


@pytest.fixture(scope="module")
def walked_small_window(chromium, report, tmp_path_factory):
    """The same at a small laptop's window, where tall and wide figures overflow the pane most."""
    return walk(chromium, report, tmp_path_factory.mktemp("walk-small"), SMALL_VIEWPORT)


def shown_entries(walked_report, kind: str) -> dict[str, dict]:
    """Every figure (``width``) or table (``table_cells``) the report displayed, by its path in the run."""
    return {
        entry["path"]: entry
        for stages in walked_report["shown"].values()
        for entries in stages.values()
        for entry in entries if kind in entry
    }


def shown_figures(walked_report) -> dict[str, tuple[int, int]]:
    """Every figure the report displayed (its path in the run) and its decoded width and height."""
    return {path: (entry["width"], entry["height"]) for path, entry in shown_entries(walked_report, "width").items()}


def png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def test_report_loads_without_errors(walked_report):
    assert walked_report["loaded"], "the report's scripts did not run to the end"
    assert walked_report["errors"] == []


def test_every_dataset_has_every_stage(walked_report):
    shown = walked_report["shown"]
    datasets = set(yaml.safe_load((REPO / "config" / "test.yaml").read_text())["datasets"])
    assert datasets == set(FIGURES_OF_DATASET) and datasets <= set(shown)
    assert set(shown["tiny"]) == SUBCATEGORIES
    assert set(shown["pbmc"]) == SUBCATEGORIES | {"5 enrichment"}
    for dataset, stages in shown.items():
        for stage, entries in stages.items():
            assert entries, f"{dataset} / {stage} lists nothing"
            # Tables and figures share a subcategory, so each row fills only its own label columns.
            assert all(any(entry["labels"]) for entry in entries), f"{dataset} / {stage} has an unlabelled row"


def test_every_figure_is_shown_and_decodes(walked_report, finished_run):
    shown = shown_figures(walked_report)
    on_disk = {str(path.relative_to(finished_run)) for path in (finished_run / "results").rglob("*.png")}
    assert set(shown) == on_disk, "every figure of the run belongs in the report"
    for dataset, names in FIGURES_OF_DATASET.items():
        assert {f"results/{dataset}/figures/{name}" for name in names} <= set(shown)
        assert {f"results/{dataset}/seed{SEED}/figures/{name}" for name in FIGURES_OF_REPLICATE[dataset]} <= set(shown)
    # The one report() over a directory (patterns=): its files must each become a figure.
    assert any("_dotplots/" in path for path in shown), "no enrichment dot plot: the patterns= item is untested"
    for path, size in shown.items():
        assert size == png_size(finished_run / path), f"{path} did not decode to its own size"


def test_every_result_has_a_filled_in_caption(walked_report):
    for path, caption in walked_report["captions"].items():
        assert caption, f"{path} has no caption"
        assert "{{" not in caption and "System Message" not in caption, f"{path}: {caption}"
        # A Jinja expression naming a missing value renders empty and leaves two spaces behind.
        assert "  " not in caption, f"{path}: a value is missing from its caption: {caption}"


def test_screenshot_shows_a_rendered_page(walked_report):
    screenshot = walked_report["screenshot"]
    with Image.open(screenshot) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.uint32)
    assert pixels.shape[:2] == (VIEWPORT["height"], VIEWPORT["width"])
    rgb = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
    colours, counts = np.unique(rgb, return_counts=True)
    assert len(colours) > 500, "the screenshot is nearly flat: the page did not render"
    assert counts.max() / counts.sum() < 0.9, "one colour fills the screenshot"


@pytest.mark.parametrize("window", ["walked_report", "walked_small_window"])
def test_every_figure_is_fully_visible(window, request):
    """Scrolled to its start, each figure's top-left corner is inside the pane and its bottom is
    reachable by scrolling: no figure is cut off, the tallest (consensus heatmaps) included."""
    figures = shown_entries(request.getfixturevalue(window), "width")
    assert figures
    clipped = {path: (entry["top_clipped"], entry["left_clipped"]) for path, entry in figures.items()
               if entry["top_clipped"] > 1 or entry["left_clipped"] > 1 or not entry["bottom_reachable"]}
    assert not clipped, f"figures cut off (pixels hidden above, left): {clipped}"
    tallest = max(entry["height"] for entry in figures.values())
    assert tallest > SMALL_VIEWPORT["height"], "no figure taller than the window: the check proved nothing"


def test_every_table_is_readable_in_the_report(walked_report, finished_run):
    """Each table of the report opens as a page of rows and cells, none as a file to download."""
    tables = shown_entries(walked_report, "table_cells")
    views = {str(path.relative_to(finished_run)) for path in (finished_run / "results").rglob("*.html")}
    assert set(tables) == views - {"results/report.html"}, "every table view of the run belongs in the report"
    assert {"results/comparison/summary.html", "results/verdict.html", "results/tiny/evaluation/recovery.html"} <= set(tables)
    # A table may have no rows (no enriched term passed the threshold), never no columns.
    headless = [path for path, entry in tables.items() if path != "results/verdict.html" and not entry["table_columns"]]
    assert not headless, f"table views without a header: {headless}"
    assert tables["results/comparison/summary.html"]["table_rows"] == 4  # 2 datasets x 2 regimes
    assert tables["results/tiny/evaluation/recovery.html"]["table_cells"] > 100
    downloads = [entry for stages in walked_report["shown"].values() for entries in stages.values()
                 for entry in entries if "path" not in entry]
    assert not downloads, f"results a reader can only download: {downloads}"


def test_the_landing_page_is_the_verdict(walked_report, finished_run):
    landing = walked_report["landing"]
    verdict = (finished_run / "results" / "verdict.rst").read_text()
    assert "Verdict" in landing and "Dataset tiny" in landing and "Dataset pbmc" in landing
    # A sentence of the generated verdict, as the reader sees it on the first page.
    sentence = next(line for line in verdict.splitlines() if line.startswith("The standard classifier reaches"))
    assert sentence.split(" on its test cells")[0] in landing
