# Config validation, the dataset table and the target lists. No rules here.
import os
import sys

from snakemake.utils import validate

# The rules' logic is the scrobin package, installed where the workflow runs (make install in a
# clone; each rule's conda env installs it too, so a module deployment finds it the same way).
try:
    import scrobin
except ImportError:
    sys.exit(
        "scrobin: the scrobin package is not installed in the Python that runs Snakemake: run make install "
        "in a clone, or pip install scrobin (the version in workflow/envs/*.yaml)"
    )
from scrobin.errors import ScrobinError
from scrobin.config import validate_config
from scrobin.preflight import check_sources
from scrobin.data.datasets import BACKED_ABOVE_BYTES


def fail(message):
    """Stop before any job with one line instead of a traceback."""
    sys.stderr.write(f"scrobin: {message}\n")
    sys.exit(1)


try:
    config = validate_config(config)
    validate(config, "../schemas/config.schema.yaml")
    check_sources(config, cache_dir=".snakemake/scrobin-checks")
except ScrobinError as error:
    fail(error)

DATASETS = sorted(config["datasets"])
REGIMES = ["standard"] + config["adversarial_training"]["regimes"]
# Replicate training seeds; the first is the configured seed, so one replicate is the run as before.
SEEDS = [config["seed"] + replicate for replicate in range(config["replicates"])]
METHODS = list(config["attribution"]["methods"])
CELLTYPIST = config["celltypist"]["enabled"]
# The regimes whose models get the explanation sanity checks (those the run trains).
SANITY_REGIMES = [regime for regime in config["evaluation"]["sanity_regimes"] if regime in REGIMES]
# Each replicate's results live in results/{ds}/seed{seed}/; what is per dataset (the prepared
# data, the attack budget, the logistic baseline, the DE ranking and the summaries over seeds)
# stays in results/{ds}/.


wildcard_constraints:
    ds="|".join(DATASETS),
    query=r"[A-Za-z0-9_-]+",
    regime="|".join(REGIMES),
    method="|".join(METHODS),
    seed=r"\d+",


def all_targets():
    targets = []
    for ds in DATASETS:
        targets.append(f"results/{ds}/prepared.h5ad")
        targets += expand("results/{ds}/seed{seed}/models/{regime}.pt", ds=ds, seed=SEEDS, regime=REGIMES)
        targets += expand("results/{ds}/seed{seed}/consensus/{regime}.tsv", ds=ds, seed=SEEDS, regime=REGIMES)
        targets += [
            f"results/{ds}/figures/robustness_accuracy.png",
            f"results/{ds}/eps_structure/summary.json",
            f"results/{ds}/evaluation/faithfulness.tsv",
        ]
        if has_key_genes(ds):
            targets.append(f"results/{ds}/evaluation/recovery.tsv")
        if not has_ground_truth(ds):
            targets += expand("results/{ds}/seed{seed}/enrichment/{regime}.tsv", ds=ds, seed=SEEDS, regime=REGIMES)
        targets += query_scores(ds)
    targets += [
        "results/comparison/summary.tsv",
        "results/comparison/methods.tsv",
        "results/comparison/comparison.png",
        "results/verdict.html",
    ]
    return targets


def standard_model_if_needed(wildcards):
    """one_shot adversarial training attacks the finished standard model of its replicate;
    Madry-style does not need it."""
    if config["adversarial_training"]["mode"] == "one_shot":
        return f"results/{wildcards.ds}/seed{wildcards.seed}/models/standard.pt"
    return []


def eps_structure_if_auto(wildcards):
    """With attack.eps auto, the dataset's budget comes from its eps-structure check, so the
    stages that use the budget wait for it; a numeric eps adds no dependency."""
    if config["attack"]["eps"] == "auto":
        return f"results/{wildcards.ds}/eps_structure/summary.json"
    return []


def replicate_seed(wildcards):
    """The job's replicate seed, for the params of every per-replicate rule."""
    return int(wildcards.seed)


def replicate_config(*sections):
    """Params: the named config sections and the replicate's seed as ``seed``."""
    return lambda wildcards: {**{section: config[section] for section in sections}, "seed": replicate_seed(wildcards)}


def per_replicate(template):
    """Input function: ``template`` (a path with {ds}, {seed} and maybe {regime} and {method}) for
    every seed, regime and method of the job's dataset."""
    return lambda wildcards: expand(template, ds=wildcards.ds, seed=SEEDS, regime=REGIMES, method=METHODS)


def has_ground_truth(ds):
    """Simulated datasets carry their key genes, so recovery can be scored; their gene names are
    not symbols, so they get no enrichment."""
    return config["datasets"][ds]["source"] == "simulate"


def has_key_genes(ds):
    """Recovery is scored against a simulation's truth or against a dataset's markers file."""
    return has_ground_truth(ds) or "markers" in config["datasets"][ds]


def markers_file(wildcards):
    """The dataset's markers file as input of recovery, so editing it reruns recovery (and what reads it)."""
    spec = config["datasets"][wildcards.ds]
    return {"markers": spec["markers"]} if "markers" in spec else {}


def prepare_spec(wildcards):
    """The dataset spec as prepare reads it: without markers, which only recovery reads, so editing
    them reruns nothing upstream."""
    return {key: value for key, value in config["datasets"][wildcards.ds].items() if key != "markers"}


def source_files(wildcards):
    """The files a dataset is read from, so editing one reruns its preparation."""
    spec = config["datasets"][wildcards.ds]
    files = [spec["source"]] if spec["source"].endswith(".h5ad") else []
    return files + ([spec["labels_file"]] if "labels_file" in spec else [])


def memory_mb(base, per_input_mb):
    """mem_mb growing with the job's input size and doubling with each retry."""
    return lambda wildcards, input, attempt: int((base + per_input_mb * input.size_mb) * 2 ** (attempt - 1))


def prepare_memory_mb(wildcards, input, attempt):
    """prepare's mem_mb: a source read whole takes up to ~30x its size (copies of the counts while
    normalising and selecting genes); one above BACKED_ABOVE_BYTES is read in blocks and needs the
    sparse model genes (at most its size) plus a block (bench_scale: 1.6 GB at 100k cells)."""
    per_input_mb = 30 if input.size_mb * 2**20 <= BACKED_ABOVE_BYTES else 1
    return int((2000 + per_input_mb * input.size_mb) * 2 ** (attempt - 1))


def dataset_threads(wildcards):
    """Threads of a job whose work grows with the dataset (training).

    One for a dataset whose source is under BACKED_ABOVE_BYTES (about 100k cells; every shipped
    dataset): its training takes seconds to minutes, and two one-thread jobs use a laptop's cores
    better than one two-thread job. Up to 8 above (Snakemake lowers it to --cores). Every other
    torch stage works on a bounded cell budget and runs one thread, so jobs, not threads, fill
    the cores. Read from the source, which exists before the run, so a rerun gets the same count:
    torch's sums depend on it, and one seed gives the same bits for the same count.
    """
    size = sum(os.path.getsize(path) for path in source_files(wildcards) if os.path.exists(path))
    return 8 if size > BACKED_ABOVE_BYTES else 1


def runtime_minutes(base, per_input_mb):
    """runtime (minutes) growing with the job's input size and with each retry."""
    return lambda wildcards, input, attempt: int((base + per_input_mb * input.size_mb) * attempt)


def queries_of(ds):
    """The names of a dataset's query files, sorted."""
    return sorted(config["datasets"][ds].get("queries", {}))


def query_source(wildcards):
    """A query's .h5ad, so editing it relabels the query."""
    return config["datasets"][wildcards.ds]["queries"][wildcards.query]["source"]


def query_scores(ds):
    """Every replicate's scores of every query of ``ds`` (labelling a query writes both files)."""
    return expand("results/{ds}/seed{seed}/queries/{query}_scores.tsv", ds=ds, seed=SEEDS, query=queries_of(ds))


def celltypist_outputs(template):
    """Input function: ``template`` of the job's dataset when CellTypist runs beside the models."""
    return lambda wildcards: [template.format(ds=wildcards.ds)] if CELLTYPIST else []
