"""What every rule script does around its work: log to the rule's log, report input errors in one line.

A ``ScrobinError`` ends the job with its one-line message in the log and on stderr (no traceback);
any other exception is a bug and keeps its traceback in the log.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path


def run_rule(snakemake, main: Callable[[object, logging.Logger], None]) -> None:
    """Call ``main(snakemake, log)`` with logging sent to the rule's log file."""
    from scrobin.errors import ScrobinError

    log_path = Path(snakemake.log[0]) if len(snakemake.log) else None
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", handlers=handlers, force=True)
    logging.captureWarnings(True)
    log = logging.getLogger(f"scrobin.rule.{snakemake.rule}")
    if "torch" in sys.modules:
        # Stay within the job's threads: parallel jobs would otherwise each take every core.
        sys.modules["torch"].set_num_threads(max(1, int(snakemake.threads)))
    try:
        main(snakemake, log)
    except ScrobinError as error:
        log.error("%s", error)
        sys.stderr.write(f"scrobin: {error}\n")
        sys.exit(1)
    except Exception:
        log.exception("rule %s failed", snakemake.rule)
        raise
