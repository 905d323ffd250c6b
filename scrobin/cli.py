"""The ``scrobin`` command: label a new ``.h5ad`` with the models of a finished run.

``scrobin annotate`` reads the model files a run wrote (``results/<dataset>/seed<N>/models/<regime>.pt``),
labels every cell of the query with each (:func:`scrobin.model.annotate.annotate_query`) and
writes the query back with the labels in ``obs``. Bad input ends the command with one
``scrobin: ...`` line and exit status 1, as the workflow's jobs do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from scrobin.errors import ScrobinError

DESCRIPTION = """\
Label the cells of a new .h5ad file with the cell-type classifiers of a finished scrobin run.

Each chosen model (a regime: standard, fgsm or pgd, of one training seed) predicts a cell type
for every cell. The file is written back unchanged (X, layers, obs, var) with three obs columns
per model, e.g. for the PGD adversarially trained model:

  scrobin_pgd_label        the predicted cell type (one of the run's types)
  scrobin_pgd_probability  the model's probability of that type (0-1)
  scrobin_pgd_unassigned   True when that probability is below --threshold

and a record of the models and of the genes the file lacks in uns["scrobin_annotation"].

The file must hold the same kind of values the run started from (raw counts, e.g. in a
'counts' layer, or log-normalised or scaled values in X); the run's preprocessing is replayed on
it. Genes are matched by name (var_names, or the column given with --gene-symbols); a model
gene the file lacks counts as average expression, and a file lacking more than
1 - --min-shared-genes of the model's genes is refused. With --label-key, the file's own cell
types score each model (accuracy, macro-F1); types the run does not know are listed, not scored.
"""

EXAMPLE = """\
example:
  scrobin annotate --run my_run --dataset pbmc --regime pgd \\
      --query donor2.h5ad --layer counts --out donor2_labelled.h5ad
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``scrobin`` parser with its ``annotate`` subcommand."""
    from scrobin.model.config import SCHEMA
    from scrobin.schema import section_defaults

    defaults = section_defaults(SCHEMA, "annotation")
    parser = argparse.ArgumentParser(prog="scrobin", description="Robust and explained single-cell classifiers.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    annotate = commands.add_parser(
        "annotate", help="label a new .h5ad with a finished run's models", description=DESCRIPTION, epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    annotate.add_argument("--run", required=True, type=Path, help="folder the run was started in (holds results/)")
    annotate.add_argument("--dataset", required=True, help="name of the run's dataset whose models label the file")
    annotate.add_argument("--query", required=True, type=Path, help="the .h5ad file of cells to label")
    annotate.add_argument("--out", required=True, type=Path, help="where to write the labelled .h5ad")
    annotate.add_argument("--regime", nargs="+", metavar="REGIME",
                          help="model(s) to label with: standard, fgsm, pgd (default: every model of the seed)")
    annotate.add_argument("--seed", nargs="+", type=int, metavar="N",
                          help="training seed(s) (replicates) of the models (default: the run's first)")
    annotate.add_argument("--layer", help="layer of the file holding raw counts (default: X)")
    annotate.add_argument("--gene-symbols", metavar="COLUMN",
                          help="var column of gene names to match the model's genes by (default: var_names)")
    annotate.add_argument("--label-key", metavar="COLUMN",
                          help="obs column of the file's own cell types, to score each model against")
    annotate.add_argument("--input-state", default="auto", choices=["auto", "counts", "lognorm", "scaled"],
                          help="what X (or --layer) holds (default: detected from X; a layer is counts)")
    annotate.add_argument("--threshold", type=float, default=defaults["unassigned_threshold"],
                          help="cells whose predicted type has a lower probability are unassigned "
                               f"(default {defaults['unassigned_threshold']})")
    annotate.add_argument("--min-shared-genes", type=float, default=defaults["min_shared_genes"],
                          help=f"least share of the model's genes the file must have (default {defaults['min_shared_genes']})")
    annotate.add_argument("--scores", type=Path, metavar="TSV", help="also write the scores (with --label-key) here")
    annotate.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the models run")
    return parser


def run_models(run: Path, dataset: str, seeds: Sequence[int] | None, regimes: Sequence[str] | None) -> list[Path]:
    """The model files of ``dataset`` in run folder ``run``: ``results/<dataset>/seed<N>/models/<regime>.pt``.

    Parameters
    ----------
    run
        The folder the workflow ran in.
    dataset
        A dataset name of that run.
    seeds
        Training seeds to take; the smallest seed of the run when None.
    regimes
        Regimes to take; every model file of each seed when None (standard first).

    Raises
    ------
    ScrobinError
        A dataset, seed or regime the run does not have, naming those it has.
    """
    from scrobin.model.classifier import REGIMES

    results = run / "results"
    folder = results / dataset
    if not folder.is_dir():
        found = sorted(p.name for p in results.iterdir() if (p / "prepared.h5ad").exists()) if results.is_dir() else []
        have = f"datasets there: {', '.join(found)}" if found else f"no {results}/ folder: is it the folder the run was started in?"
        raise ScrobinError(f"run '{run}' has no results for dataset '{dataset}' ({have}): fix --run or --dataset")
    available = sorted(int(p.name[4:]) for p in folder.glob("seed*") if p.name[4:].isdigit() and (p / "models").is_dir())
    if not available:
        raise ScrobinError(f"run '{run}' has no trained model of dataset '{dataset}' (no {folder}/seed<N>/models/): "
                           "finish the run first")
    chosen = list(seeds) if seeds else available[:1]
    absent = [seed for seed in chosen if seed not in available]
    if absent:
        raise ScrobinError(f"dataset '{dataset}' has no models of seed {absent[0]} (seeds: {', '.join(map(str, available))}): fix --seed")
    paths = []
    for seed in chosen:
        models = folder / f"seed{seed}" / "models"
        present = sorted((p.stem for p in models.glob("*.pt")), key=lambda r: (REGIMES.index(r) if r in REGIMES else len(REGIMES), r))
        wanted = list(regimes) if regimes else present
        missing = [regime for regime in wanted if regime not in present]
        if missing or not wanted:
            what = f"{missing[0]} model" if missing else "model"
            raise ScrobinError(f"dataset '{dataset}', seed {seed} has no {what} (models: {', '.join(present) or 'none'}): "
                               "fix --regime or finish the run")
        paths += [models / f"{regime}.pt" for regime in wanted]
    return paths


def annotate(args: argparse.Namespace) -> None:
    """``scrobin annotate``: load the models and the query, label it, write it, print a summary."""
    from scrobin.data.checks import Subject
    from scrobin.data.datasets import load_dataset
    from scrobin.model.annotate import annotate_query, load_annotation_models
    from scrobin.runtime import resolve_device
    from scrobin.tables import write_table

    if args.query.suffix != ".h5ad" or not args.query.is_file():
        raise ScrobinError(f"query file '{args.query}' {'does not exist' if args.query.suffix == '.h5ad' else 'is not an .h5ad file'}: "
                           "give the path of an .h5ad file with --query")
    if args.scores is not None and args.label_key is None:
        raise ScrobinError("--scores needs --label-key: the obs column of the file's own cell types to score against")
    if args.out.resolve() == args.query.resolve():
        raise ScrobinError(f"--out '{args.out}' is the query file itself: write the labelled cells to a new file")
    models = load_annotation_models(run_models(args.run, args.dataset, args.seed, args.regime), resolve_device(args.device))
    spec = {"source": str(args.query), "label_key": args.label_key, "layer": args.layer,
            "input_state": args.input_state, "gene_symbols": args.gene_symbols}
    query = load_dataset(spec, name=args.query.name)
    subject = Subject(f"query '{args.query}'", "", command_line=True)
    result = annotate_query(query, models, spec, subject, args.threshold, args.min_shared_genes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result.write(query, args.out)
    for name, record in result.record["models"].items():
        replay = result.record["replays"][record["replay"]]
        print(f"{name}: {query.n_obs} cells labelled, {record['n_unassigned']} unassigned (probability < {args.threshold}); "
              f"{replay['n_missing_genes']} of {replay['n_model_genes']} model genes missing ({replay['missing_share']:.1%})")
        score = record.get("score")
        if score:
            print(f"{name}: accuracy {score['accuracy']:.3f}, macro-F1 {score['macro_f1']:.3f} on {score['n_cells']} cells "
                  f"of reference types; {score['n_not_in_reference']} cells of labels not in the reference "
                  f"({', '.join(score['not_in_reference_labels']) or 'none'})")
    print(f"wrote {args.out}")
    if args.scores is not None:
        write_table(result.scores, args.scores)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``scrobin`` command; bad input prints one ``scrobin: ...`` line and returns 1."""
    args = build_parser().parse_args(argv)
    try:
        annotate(args)
    except ScrobinError as error:
        sys.stderr.write(f"scrobin: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
