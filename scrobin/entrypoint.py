"""What every rule script does around its work: keep to its threads, log to the rule's log, report
input errors in one line, and end the process once the outputs are written.

A ``ScrobinError`` ends the job with its one-line message in the log and on stderr (no traceback);
any other exception is a bug and keeps its traceback in the log.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path


# The thread pools of OpenMP (torch), OpenBLAS, MKL and Apple's Accelerate (numpy, scipy) and
# numba (scanpy's Wilcoxon test) size themselves from these when their library loads.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                    "NUMBA_NUM_THREADS")


def limit_threads(threads: int) -> None:
    """Keep the job within its ``threads`` (Snakemake's count for this job).

    Snakemake sets ``OMP_NUM_THREADS`` and its kin for ``shell`` jobs only; a ``script`` job's
    numpy and torch would otherwise each start one thread per core, so two parallel jobs on a
    2-core laptop would run four busy threads. Call it before numpy or torch is imported (the rule
    scripts do, first thing); torch, if already loaded, is limited directly.
    """
    threads = max(1, int(threads))
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def run_rule(snakemake, main: Callable[[object, logging.Logger], None]) -> None:
    """Call ``main(snakemake, log)`` with logging sent to the rule's log file, then end the job's process.

    A job that succeeded ends at once (:func:`end_job_process`, exit status 0) instead of
    returning; one that failed exits 1 (input error) or raises (bug).
    """
    from scrobin.errors import ScrobinError

    log_path = Path(snakemake.log[0]) if len(snakemake.log) else None
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        # A fresh log per job, then appended to: importing ART runs logging.config.dictConfig,
        # which closes every handler; a closed "w" handler drops all later lines, an "a" one
        # reopens the file at its next line (the robustness_baseline log kept only ART's line).
        log_path.write_text("")
        handlers.append(logging.FileHandler(log_path, mode="a"))
    # The job's wildcards on every line: Snakemake echoes each job's stderr to one console, where
    # two parallel jobs of a rule (e.g. train on two datasets) would otherwise interleave unnamed.
    wildcards = getattr(snakemake, "wildcards", None)
    label = ",".join(f"{key}={value}" for key, value in wildcards.items()) if wildcards is not None else ""
    line_format = f"%(asctime)s %(name)s{f'[{label}]' if label else ''} %(levelname)s %(message)s"
    logging.basicConfig(level=logging.INFO, format=line_format, handlers=handlers, force=True)
    logging.captureWarnings(True)
    log = logging.getLogger(f"scrobin.rule.{snakemake.rule}")
    try:
        main(snakemake, log)
        log_process_usage(log)
    except ScrobinError as error:
        log.error("%s", error)
        sys.stderr.write(f"scrobin: {error}\n")
        sys.exit(1)
    except Exception:
        log.exception("rule %s failed", snakemake.rule)
        raise
    end_job_process()


# Written by every finished job; benchmarks/bench_workflow.py sums it per rule.
USAGE_MESSAGE = "job process: %.2f CPU s (user %.2f, system %.2f), peak memory %.0f MB"


def log_process_usage(log: logging.Logger) -> None:
    """Log the CPU seconds and peak resident memory (MB) of this process so far, imports included.

    Snakemake's benchmark file samples a job's CPU every 0.5 s for its first 15 s and then every
    30 s, keeping the last sample, so a job of 15 s or more shows less CPU than it used; this line
    is the process's own count (``getrusage``). No line on systems without ``resource`` (Windows).
    """
    try:
        import resource
    except ImportError:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
    peak_mb = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
    log.info(USAGE_MESSAGE, usage.ru_utime + usage.ru_stime, usage.ru_utime, usage.ru_stime, peak_mb)


def end_job_process() -> None:
    """End a finished job's process without the interpreter's teardown (exit status 0).

    Tearing down torch's, anndata's and matplotlib's modules costs 0.4-0.8 s of CPU per job
    (measured: ``import torch, anndata, captum.attr`` then exit, 2.8 CPU s; then ``os._exit``,
    2.0 s), more than the work of most jobs and about 70 CPU s of the default run. A finished job
    has nothing left to release: its outputs are closed files (``write_h5ad``, ``to_csv``,
    ``savefig`` and ``torch.save`` close theirs) and the log handlers are flushed and closed here.
    Never call it from a process that has more to do (a test, a notebook).
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)
