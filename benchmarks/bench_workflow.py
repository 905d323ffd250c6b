"""Wall time of a whole workflow run, and where it goes, rule by rule.

Runs Snakemake on a config (default: ``config/config.yaml``, the default run) in a fresh temporary
folder with ``--cores`` cores, then reads every job's benchmark file (each rule writes one under
``results/<dataset>/benchmarks/<rule>/`` or ``results/comparison/benchmarks/<rule>/``) and prints one
table: per rule the number of jobs, the summed wall seconds (``s``) and CPU seconds (``cpu_time``)
of the benchmark files and the CPU seconds of the jobs' processes (``process_cpu``), largest first,
under the run's wall time and the CPU seconds of all its processes.

Snakemake samples a job's CPU every 0.5 s for its first 15 s, then every 30 s, and keeps the last
sample: a job of 15-45 s loses the CPU it spent after that sample (a 30 s KernelSHAP job shows
about 15). ``s`` is exact, and so are ``process_cpu`` (each finished job logs its own process's
CPU seconds, imports included: ``scrobin.entrypoint.log_process_usage``; summed here from the
logs) and the run's total CPU line (the rusage of Snakemake and every process it started), which
is what the 2-core wall time follows. Run from the repository root:

    .venv/bin/python benchmarks/bench_workflow.py                      # the default run, 2 cores
    .venv/bin/python benchmarks/bench_workflow.py --configfile config/test.yaml --keep /tmp/run
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent

# Runs Snakemake as ``python -m snakemake`` does and, at exit, prints the CPU seconds of its own
# process: scheduling, DAG updates and job bookkeeping, which no job's benchmark file counts.
SNAKEMAKE_WITH_OWN_CPU = (
    "import atexit, resource, runpy, sys\n"
    "def own_cpu():\n"
    "    usage = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    sys.stderr.write(f'\\nSNAKEMAKE_OWN_CPU {usage.ru_utime + usage.ru_stime:.1f}\\n')\n"
    "atexit.register(own_cpu)\n"
    "sys.argv = ['snakemake'] + sys.argv[1:]\n"
    "runpy.run_module('snakemake', run_name='__main__')\n"
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default=str(REPO / "config" / "config.yaml"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", default=None, help="run in this folder and keep it (default: a temporary one)")
    parser.add_argument("--report", action="store_true", help="also build the HTML report and time it")
    return parser.parse_args()


def rule_table(results: Path, since: float = 0.0) -> pd.DataFrame:
    """Summed ``s`` and ``cpu_time`` per rule over the benchmark files under ``results`` written at
    or after ``since`` (seconds since the epoch): a ``--keep`` folder may hold an earlier run's."""
    rows = []
    for path in sorted(results.glob("*/benchmarks/*/*.tsv")):
        if path.stat().st_mtime < since:
            continue
        table = pd.read_csv(path, sep="\t")
        rows.append({"rule": path.parent.name, "s": table["s"].sum(), "cpu_time": table["cpu_time"].sum()})
    if not rows:
        return pd.DataFrame(columns=["rule", "jobs", "s", "cpu_time"])
    jobs = pd.DataFrame(rows)
    summed = jobs.groupby("rule").agg(jobs=("s", "size"), s=("s", "sum"), cpu_time=("cpu_time", "sum"))
    return summed.sort_values("cpu_time", ascending=False).reset_index()


# The line scrobin.entrypoint.log_process_usage writes at the end of every finished job.
PROCESS_USAGE = re.compile(r" scrobin\.rule\.(\w+)(?:\[[^\]]*\])? INFO job process: ([0-9.]+) CPU s")


def process_cpu(logs: Path, since: float = 0.0) -> pd.Series:
    """CPU seconds of every finished job's process, summed per rule, from the job logs under ``logs``
    written at or after ``since`` (seconds since the epoch)."""
    cpu: dict[str, float] = {}
    for path in logs.rglob("*.log"):
        if path.stat().st_mtime < since:
            continue
        for rule, seconds in PROCESS_USAGE.findall(path.read_text(errors="replace")):
            cpu[rule] = cpu.get(rule, 0.0) + float(seconds)
    return pd.Series(cpu, name="process_cpu", dtype=float)


def main() -> None:
    args = parse_args()
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="scrobin-bench-"))
    command = [sys.executable, "-c", SNAKEMAKE_WITH_OWN_CPU, "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(Path(args.configfile).resolve()), "--cores", str(args.cores)]
    # Files of an earlier run in a --keep folder are older than this and left out of the table.
    run_began = time.time() - 1.0
    started, children_before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Snakemake and every process it started (all waited for), so nothing escapes this count.
    total_cpu = (children.ru_utime + children.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    own = re.search(r"SNAKEMAKE_OWN_CPU ([0-9.]+)", run.stderr)
    if run.returncode != 0:
        sys.exit(f"the workflow failed after {wall:.0f} s:\n{run.stderr[-4000:]}")
    table = rule_table(workdir / "results", since=run_began)
    table["process_cpu"] = table["rule"].map(process_cpu(workdir / "logs", since=run_began)).fillna(0.0)
    table = table.sort_values("process_cpu", ascending=False, ignore_index=True)
    print(f"config {args.configfile}, {args.cores} cores: whole run {wall:.0f} s wall, "
          f"{int(table['jobs'].sum())} jobs, {table['cpu_time'].sum():.0f} CPU s in their benchmark files "
          f"({table['process_cpu'].sum():.0f} by their own count); "
          f"{total_cpu:.0f} CPU s in all, of which Snakemake's own process {own.group(1) if own else '?'}")
    if args.report:
        started = time.perf_counter()
        subprocess.run(command + ["--report", str(workdir / "results" / "report.html")], check=True,
                       capture_output=True)
        print(f"report: {time.perf_counter() - started:.0f} s")
    total = table[["jobs", "s", "cpu_time", "process_cpu"]].sum()
    table.loc[len(table)] = ["all rules", total["jobs"], total["s"], total["cpu_time"], total["process_cpu"]]
    print(table.round(1).to_string(index=False))
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
