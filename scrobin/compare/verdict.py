"""The verdict: what a run found, in sentences generated from its tables, first page of the report.

Per dataset it says whether the classifier is worth explaining (against the logistic regression
and CellTypist on the same cells), which attack budget was used and why, what each robust
training regime changed (robust and clean accuracy, and accuracy under a real shift) against the
standard model with the seeds' interval, whether the consensus finds the known genes better than
the strongest baseline and than chance, which methods explain the data rather than the model,
which cell types' explanations are not to be trusted and which genes are, and what to open next.
Every number comes from the comparison's tables; a difference is stated whatever its sign, and
one seed is never read as a difference.

The verdict is a list of :class:`Block` (headings, paragraphs, bullet lists, tables) rendered to
reStructuredText (the report's landing page) and to a standalone HTML page (``results/verdict.html``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scrobin.compare.seeds import paired_difference
from scrobin.model.check import MODEL_FLAG_COLUMN

# How the verdict names an attack of the comparison's columns.
ATTACK_NAMES = {"strongest": "the strongest attack (APGD-CE, APGD-T and the sweep's attacks; a cell counts only if "
                             "all fail)", "pgd_linf": "PGD", "fgsm_linf": "FGSM"}
# How many of each trusted type's consensus genes the verdict names.
GENES_NAMED = 5
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Block:
    """One piece of the verdict: ``heading`` (text, level 1 or 2), ``paragraph`` (text), ``bullets``
    (items) or ``table`` (header and rows of text)."""

    kind: str
    text: str = ""
    level: int = 2
    items: tuple[str, ...] = ()
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = field(default_factory=tuple)


def _number(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _signed(value: float, digits: int = 2) -> str:
    return f"{value:+.{digits}f}"


def _spread(row: pd.Series, column: str, digits: int = 2) -> str:
    """``0.81`` or ``0.81 ± 0.02`` (sd over seeds) for one summary column; a whole count without
    a spread is written as one (``8``, not ``8.0``)."""
    value = row.get(column, math.nan)
    sd = row.get(f"{column}_sd", math.nan)
    whole = pd.isna(sd) and not pd.isna(value) and float(value).is_integer()
    text = f"{value:.0f}" if whole and digits < 2 else _number(value, digits)
    return text if pd.isna(sd) else f"{text} ± {_number(sd, digits)}"


def difference_sentence(standard: np.ndarray, other: np.ndarray, what: str) -> str:
    """One clause stating ``other - standard`` for ``what`` with its interval over paired seeds.

    With one seed no difference can be told from the seed, and the clause says so and how to get
    one; with several, the Student-t interval decides between "raises", "lowers" and "no
    difference the seeds can tell".
    """
    if len(standard) == 0:
        return f"{what} not measured"
    result = paired_difference(np.asarray(standard, float), np.asarray(other, float), CONFIDENCE)
    change = _signed(result["difference"])
    if result["n_seeds"] < 2:
        return (f"{what} {_number(result['standard_mean'])} → {_number(result['regime_mean'])} ({change}) on one "
                "seed: run replicates: 3 to tell a difference from the seed")
    interval = (f"{CONFIDENCE:.0%} interval {_signed(result['ci_low'])} to {_signed(result['ci_high'])} over "
                f"{result['n_seeds']} seeds")
    if result["ci_low"] > 0:
        verb = "raises"
    elif result["ci_high"] < 0:
        verb = "lowers"
    else:
        return (f"{what} {_number(result['standard_mean'])} → {_number(result['regime_mean'])} ({change}, {interval}): "
                "no difference the seeds can tell")
    return f"{verb} {what} from {_number(result['standard_mean'])} to {_number(result['regime_mean'])} ({change}, {interval})"


def headline_attack(summary: pd.DataFrame) -> str | None:
    """The attack whose robust accuracy the verdict states: the strongest attack when measured,
    else PGD, else the first attack of the sweep."""
    attacks = [column.removeprefix("robust_accuracy_") for column in summary.columns
               if column.startswith("robust_accuracy_") and not column.endswith("_sd")]
    for preferred in ("strongest", "pgd_linf"):
        if preferred in attacks:
            return preferred
    return attacks[0] if attacks else None


def verdict_blocks(summary: pd.DataFrame, per_seed: pd.DataFrame, methods: pd.DataFrame,
                   consensus: pd.DataFrame | None, settings: Mapping, radius: pd.DataFrame | None = None) -> list[Block]:
    """The verdict of a run, dataset by dataset.

    Parameters
    ----------
    summary, per_seed, methods
        :func:`scrobin.compare.summary.summary_table` (means over seeds), its rows per seed
        (:func:`~scrobin.compare.summary.replicate_summary`) and :func:`~scrobin.compare.summary.method_table`.
    consensus
        Every consensus table of the run stacked (``dataset``, ``seed``, ``regime``, ``cell_type``,
        ``gene``/``gene_symbol``, ``consensus_rank``, ``votes``, the per-type ``type_f1``,
        ``n_test_cells``, ``n_cells``, ``few_cells``, ``not_recognised``), or None.
    settings
        ``replicates``, ``min_type_f1`` (``importance.min_type_f1``), ``min_cells``
        (``importance.min_cells``), ``recovery_top_n`` and ``sanity_threshold``.
    radius
        Every dataset's certified radius per regime and cell type (``dataset``, ``regime``,
        ``cell_type``, ``radius_median``), or None.

    Returns
    -------
    list of Block
    """
    blocks = [Block("heading", "Verdict", level=1), Block("paragraph", _run_line(summary, settings))]
    for dataset, rows in summary.groupby("dataset", sort=False):
        rows = rows.set_index("regime")
        seeds = per_seed[per_seed["dataset"] == dataset]
        blocks.append(Block("heading", f"Dataset {dataset}", level=2))
        blocks.append(Block("paragraph", _classifier_line(rows)))
        blocks.append(Block("paragraph", _budget_line(rows)))
        blocks += _robustness_blocks(rows, seeds, settings)
        if radius is not None:
            blocks += _fragile_blocks(radius[radius["dataset"] == dataset])
        blocks += _shift_blocks(rows, seeds, settings)
        blocks += _genes_blocks(rows, seeds, settings)
        blocks += _sanity_blocks(methods[methods["dataset"] == dataset], settings)
        if consensus is not None:
            blocks += _trust_blocks(consensus[consensus["dataset"] == dataset], settings)
    blocks += [Block("heading", "What to open next", level=2), Block("bullets", items=OPEN_NEXT)]
    return blocks


OPEN_NEXT = (
    "results/comparison/summary.html: every dataset and regime, one row each, every headline number "
    "(summary.tsv for a spreadsheet); differences.tsv: each regime against the standard model over seeds.",
    "results/<dataset>/seed<seed>/figures/consensus_<regime>.png: the genes each cell type's prediction rests on, "
    "votes of the attribution methods; the consensus tables beside it list every gene.",
    "results/<dataset>/figures/robustness_accuracy.png: accuracy against the attack budget for every model.",
    "results/<dataset>/evaluation/recovery.tsv and figures/recovery.png: known genes found by every ranking, "
    "the baselines and chance.",
    "results/report.html (snakemake --report results/report.html): all of it, figure by figure.",
)


def _run_line(summary: pd.DataFrame, settings: Mapping) -> str:
    datasets = list(dict.fromkeys(summary["dataset"]))
    regimes = list(dict.fromkeys(summary["regime"]))
    replicates = settings.get("replicates", 1)
    seeds = "one training seed per regime" if replicates == 1 else f"{replicates} training seeds per regime"
    return (f"{len(datasets)} dataset(s) ({', '.join(datasets)}), regimes {', '.join(regimes)} (standard: ordinary "
            f"training; the others trained against attacks), {seeds}. Every number below comes from "
            "results/comparison/; ± is the standard deviation over seeds.")


def _classifier_line(rows: pd.DataFrame) -> str:
    standard = rows.loc["standard"]
    parts = [f"The standard classifier reaches test macro-F1 {_spread(standard, 'macro_f1')} (accuracy "
             f"{_spread(standard, 'accuracy')}) on its test cells ({standard.get('test_split', 'random stratified')})"]
    scores = {"a logistic regression": standard.get("logistic_macro_f1", math.nan),
              "CellTypist": standard.get("celltypist_macro_f1", math.nan)}
    scores = {name: score for name, score in scores.items() if not pd.isna(score)}
    references = [f"{_number(score)} for {name}" for name, score in scores.items()]
    if references:
        parts.append(f", against {' and '.join(references)} on the same split")
    flag = standard.get(MODEL_FLAG_COLUMN, "")
    if isinstance(flag, str) and flag:
        parts.append(f". It is flagged as not worth explaining ({flag}): its explanations describe its mistakes.")
        return "".join(parts)
    best = max(scores, key=scores.get) if scores else None
    gap = scores[best] - standard.get("macro_f1", math.nan) if best else math.nan
    if gap > 0 and _number(gap) != _number(0):
        # within model_check's allowance, but a reader must not take the MLP for the better classifier
        parts.append(f": worth explaining, though {_number(gap)} below {best.removeprefix('a ')} (within what "
                     "model_check allows): the explanations describe a classifier no better than the reference.")
    else:
        parts.append(": worth explaining.")
    return "".join(parts)


def _budget_line(rows: pd.DataFrame) -> str:
    standard = rows.loc["standard"]
    eps, source = standard.get("attack_eps", math.nan), standard.get("attack_eps_source", "none")
    if pd.isna(eps):
        return ("No attack budget: attack.eps is auto and no eps of eps_structure.eps keeps the cells' structure, so "
                "no robust model was trained; add smaller eps to eps_structure.eps or set attack.eps.")
    why = ("chosen by attack.eps: auto as the largest eps whose structure score stays above the threshold (an attack "
           "beyond it changes what the cells are)" if source == "eps_structure" else "set in the config (attack.eps)")
    score = standard.get("attack_eps_structure_score", math.nan)
    score_text = "" if pd.isna(score) else f"; at it the structure score is {_number(score)}"
    return f"Attack budget: eps {eps:g} in scaled-expression units (standard deviations of each gene), {why}{score_text}."


def _robustness_blocks(rows: pd.DataFrame, seeds: pd.DataFrame, settings: Mapping) -> list[Block]:
    attack = headline_attack(rows.reset_index())
    if attack is None:
        return []
    column = f"robust_accuracy_{attack}"
    standard = rows.loc["standard"]
    name = ATTACK_NAMES.get(attack, attack)
    lines = [f"standard model: accuracy under {name} {_spread(standard, column)}{_bracket(standard, column)}"]
    for regime in rows.index:
        if regime == "standard":
            continue
        lines.append(f"{regime}-trained model: {difference_sentence(*_paired(seeds, regime, column), f'accuracy under {name}')}"
                     f"{_bracket(rows.loc[regime], column)}; "
                     f"{difference_sentence(*_paired(seeds, regime, 'accuracy'), 'clean accuracy')}")
    masked = {regime: rows.loc[regime].get("pgd_overstates", math.nan) for regime in rows.index}
    masked = {regime: value for regime, value in masked.items() if not pd.isna(value)}
    overstated = {regime: value for regime, value in masked.items() if value > 0}
    if masked and not overstated:
        lines.append("PGD-10 finds the same worst case as the strongest attack for every model: no sign of gradient "
                     "masking")
    elif overstated:
        # a weaker attack or a masked gradient: the table cannot tell which, so the sentence names neither
        lines.append("PGD-10 alone overstates robust accuracy for "
                     + ", ".join(f"{regime} by {_number(value)}" for regime, value in overstated.items())
                     + ": it misses cells another attack breaks, so quote the strongest attack's number")
    references = []
    if not pd.isna(standard.get("logistic_robust_accuracy_exact", math.nan)):
        references.append(f"logistic regression {_number(standard['logistic_robust_accuracy_exact'])} (exact)")
    if not pd.isna(standard.get("celltypist_robust_accuracy_exact", math.nan)):
        references.append(f"CellTypist {_number(standard['celltypist_robust_accuracy_exact'])} (exact; "
                          f"{_number(standard.get('celltypist_robust_accuracy_exact_in_domain', math.nan))} when "
                          "expression may not fall below zero)")
    if references:
        lines.append("the reference classifiers at the same budget: " + ", ".join(references))
    return [Block("paragraph", "Robustness (accuracy of the test cells under attack at the budget):"),
            Block("bullets", items=tuple(lines))]


def _fragile_blocks(radius: pd.DataFrame, shown: int = 3) -> list[Block]:
    """The cell types with the smallest median certified radius, per regime."""
    per_type = radius[radius["cell_type"].astype(str) != "all types"].dropna(subset=["radius_median"])
    if per_type.empty:
        return []
    lines = []
    for regime, rows in per_type.groupby("regime", sort=False):
        fragile = rows.sort_values("radius_median").head(shown)
        lines.append(f"{regime}: " + ", ".join(f"{row.cell_type} ({_number(row.radius_median, 3)})"
                                                for row in fragile.itertuples(index=False)))
    return [Block("paragraph", "Most fragile cell types (smallest median certified radius, in eps; an attack "
                               "within it cannot change their calls):"), Block("bullets", items=tuple(lines))]


def _bracket(row: pd.Series, column: str) -> str:
    """``; the true robust accuracy lies between the certified 0.41 (CROWN) and 0.54`` when the
    run certified the model (a lower bound below the strongest attack's upper bound), else empty."""
    upper = row.get(column, math.nan)
    for method in ("crown", "crown-ibp", "ibp"):
        certified = row.get(f"certified_accuracy_{method}", math.nan)
        if pd.isna(certified):
            continue
        if not pd.isna(upper) and certified >= upper:
            return f"; certified ({method.upper()}) as well: the true robust accuracy is {_number(upper)}"
        return (f"; the true robust accuracy lies between the certified {_number(certified)} ({method.upper()}) "
                f"and {_number(upper)}")
    return ""


def _paired(seeds: pd.DataFrame, regime: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, the standard model's and ``regime``'s value of ``column`` (seeds both have)."""
    if column not in seeds:
        return np.array([]), np.array([])
    table = seeds.pivot_table(index="seed", columns="regime", values=column)
    if regime not in table or "standard" not in table:
        return np.array([]), np.array([])
    pairs = table[["standard", regime]].dropna()
    return pairs["standard"].to_numpy(float), pairs[regime].to_numpy(float)


def _shift_blocks(rows: pd.DataFrame, seeds: pd.DataFrame, settings: Mapping) -> list[Block]:
    """Accuracy under a real shift: a held-out split, or labelled queries."""
    lines = []
    standard = rows.loc["standard"]
    split = standard.get("test_split", "random stratified")
    if isinstance(split, str) and split.startswith("held out"):
        lines.append(f"test cells {split} (trained on the others): standard accuracy {_spread(standard, 'accuracy')}")
        for regime in rows.index.drop("standard"):
            lines.append(f"{regime}: {difference_sentence(*_paired(seeds, regime, 'accuracy'), 'accuracy under this shift')}")
        if not pd.isna(standard.get("celltypist_accuracy", math.nan)):
            lines.append(f"CellTypist on the same shifted cells: accuracy {_number(standard['celltypist_accuracy'])}")
    queries = [column.removeprefix("query_accuracy_") for column in rows.columns
               if column.startswith("query_accuracy_") and not column.endswith("_sd")]
    for query in queries:
        column = f"query_accuracy_{query}"
        lines.append(f"query {query}: standard accuracy {_spread(standard, column)}")
        for regime in rows.index.drop("standard"):
            lines.append(f"query {query}, {regime}: {difference_sentence(*_paired(seeds, regime, column), 'accuracy')}")
        celltypist = standard.get(f"celltypist_query_accuracy_{query}", math.nan)
        if not pd.isna(celltypist):
            lines.append(f"query {query}: CellTypist accuracy {_number(celltypist)}")
    if not lines:
        return []
    return [Block("paragraph", "Under a real shift (does robustness to worst-case noise carry over?):"),
            Block("bullets", items=tuple(lines))]


def _genes_blocks(rows: pd.DataFrame, seeds: pd.DataFrame, settings: Mapping) -> list[Block]:
    standard = rows.loc["standard"]
    source = standard.get("key_genes_source", math.nan)
    if pd.isna(source) or pd.isna(standard.get("key_genes_auprc_consensus", math.nan)):
        return [Block("paragraph", "Genes: no known genes to score against (give a markers file to score real data).")]
    baseline = standard.get("strongest_baseline", math.nan)
    baseline_auprc = standard.get("key_genes_auprc_strongest_baseline", math.nan)
    chance = standard.get("key_genes_auprc_chance", math.nan)
    top_n = settings.get("recovery_top_n", 20)
    lines = []
    for regime in rows.index:
        row = rows.loc[regime]
        consensus = seeds[seeds["regime"] == regime]["key_genes_auprc_consensus"].dropna().to_numpy(float)
        position = _against(consensus, baseline_auprc)
        lines.append(
            f"{regime}: the consensus puts {_spread(row, 'key_genes_recovered_consensus', 1)} key genes in the types' top "
            f"{top_n} lists (chance {_number(row.get('key_genes_expected', math.nan), 1)}); AUPRC "
            f"{_spread(row, 'key_genes_auprc_consensus')} against {_number(baseline_auprc)} for the strongest baseline "
            f"({baseline}) and {_number(chance, 3)} by chance: {position}"
        )
    return [Block("paragraph", f"Genes (key genes from {source}):"), Block("bullets", items=tuple(lines))]


def _against(values: np.ndarray, baseline: float) -> str:
    """Whether the consensus is above, level with or below a baseline, given its seeds."""
    if len(values) == 0 or pd.isna(baseline):
        return "no baseline to compare with"
    if len(values) < 2:
        side = "above" if values[0] > baseline else "below" if values[0] < baseline else "level with"
        return f"{side} the strongest baseline on one seed (run replicates: 3 to tell it from the seed's spread)"
    result = paired_difference(np.full(len(values), baseline), values, CONFIDENCE)
    if result["ci_low"] > 0:
        side = "above"
    elif result["ci_high"] < 0:
        side = "below"
    else:
        side = "level with"
    return (f"{side} the strongest baseline ({_signed(result['difference'])}, {CONFIDENCE:.0%} interval "
            f"{_signed(result['ci_low'])} to {_signed(result['ci_high'])} over {result['n_seeds']} seeds)")


def _sanity_blocks(methods: pd.DataFrame, settings: Mapping) -> list[Block]:
    if "sanity_verdict" not in methods or methods["sanity_verdict"].isna().all():
        return []
    checked = methods.dropna(subset=["sanity_verdict"])
    by_verdict = {verdict: sorted(set(group["method"])) for verdict, group in checked.groupby("sanity_verdict")}
    explains_data = by_verdict.get("explains the data", [])
    spearman = checked["sanity_spearman_randomised"]
    text = (f"Sanity checks (each method's gene ranking on the trained model against the same network with every "
            f"layer re-initialised): |Spearman| {_number(spearman.min())} to {_number(spearman.max())}. ")
    if explains_data:
        text += (f"{', '.join(explains_data)} keep their ranking on a network that learnt nothing (≥ "
                 f"{settings.get('sanity_threshold', 0.5):g}): they explain the data, not the model; do not read their "
                 "genes as the classifier's.")
    else:
        text += "Every method's ranking changes with the model: they explain the model."
    if "sanity_spearman_random_logit" in checked:
        # the second check: explaining a random other class should give another ranking
        per_method = checked.groupby("method")["sanity_spearman_random_logit"].mean()
        alike = sorted(per_method.index[per_method >= settings.get("sanity_threshold", 0.5)])
        if alike:
            low, high = _number(per_method[alike].min()), _number(per_method[alike].max())
            text += (f" {', '.join(alike)} rank genes nearly alike whichever class they explain (random-logit "
                     f"|Spearman| {low if low == high else f'{low} to {high}'}): their lists say which genes move "
                     "the network, less which genes make one type that type.")
    return [Block("paragraph", text)]


def _trust_blocks(consensus: pd.DataFrame, settings: Mapping) -> list[Block]:
    """Which cell types' explanations not to trust (and why) and the genes of the others, on the
    standard model of the first seed."""
    if consensus.empty:
        return []
    first_seed = consensus["seed"].min() if "seed" in consensus else None
    table = consensus[(consensus["regime"] == "standard") & ((consensus["seed"] == first_seed) if first_seed is not None else True)]
    per_type = table.groupby("cell_type", sort=False).first()
    untrusted, trusted_rows = [], []
    label = "gene_symbol" if "gene_symbol" in table else "gene"
    for cell_type, facts in per_type.iterrows():
        reasons = []
        if bool(facts.get("not_recognised", False)):
            reasons.append(f"not recognised: test F1 {_number(facts.get('type_f1', math.nan))} on "
                           f"{int(facts.get('n_test_cells', 0))} test cells, below {settings.get('min_type_f1', 0.5):g}")
        if bool(facts.get("few_cells", False)):
            reasons.append(f"too few cells: importance averaged over {int(facts.get('n_cells', 0))}, fewer than "
                           f"{settings.get('min_cells', 10)}")
        if reasons:
            untrusted.append(f"{cell_type} ({'; '.join(reasons)})")
            continue
        genes = table[table["cell_type"] == cell_type].sort_values("consensus_rank").head(GENES_NAMED)
        trusted_rows.append((str(cell_type), _number(facts.get("type_f1", math.nan)),
                             ", ".join(f"{gene} ({votes})" for gene, votes in zip(genes[label], genes["votes"]))))
    blocks = []
    if untrusted:
        blocks += [Block("paragraph", "Explanations not to be trusted (standard model):"),
                   Block("bullets", items=tuple(untrusted))]
    else:
        blocks.append(Block("paragraph", "Every cell type is recognised and explained on enough cells."))
    if trusted_rows:
        blocks += [Block("paragraph", f"Genes to trust: each recognised type's top {GENES_NAMED} consensus genes "
                                      "(votes of the attribution methods), standard model:"),
                   Block("table", header=("cell type", "test F1", "top consensus genes (votes)"), rows=tuple(trusted_rows))]
    return blocks


def render_rst(blocks: Sequence[Block]) -> str:
    """The verdict as reStructuredText (the report's landing page)."""
    lines = []
    for block in blocks:
        if block.kind == "heading":
            lines += [block.text, ("=" if block.level == 1 else "-") * len(block.text), ""]
        elif block.kind == "paragraph":
            lines += [_rst_text(block.text), ""]
        elif block.kind == "bullets":
            lines += [f"* {_rst_text(item)}" for item in block.items] + [""]
        elif block.kind == "table":
            lines += [".. list-table::", "   :header-rows: 1", ""]
            for row in (block.header, *block.rows):
                lines.append(f"   * - {_rst_text(row[0])}")
                lines += [f"     - {_rst_text(cell)}" for cell in row[1:]]
            lines.append("")
    return "\n".join(lines)


def _rst_text(text: str) -> str:
    # Characters RST reads as markup in running text; the verdict's text is plain.
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("`", "\\`").replace("_ ", "\\_ ").replace("|", "\\|")


def render_html(blocks: Sequence[Block], title: str = "scrobin verdict") -> str:
    """The verdict as a standalone HTML page (``results/verdict.html``), readable without the report."""
    body = []
    for block in blocks:
        if block.kind == "heading":
            tag = "h1" if block.level == 1 else "h2"
            body.append(f"<{tag}>{html.escape(block.text)}</{tag}>")
        elif block.kind == "paragraph":
            body.append(f"<p>{html.escape(block.text)}</p>")
        elif block.kind == "bullets":
            body.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in block.items) + "</ul>")
        elif block.kind == "table":
            header = "".join(f"<th>{html.escape(cell)}</th>" for cell in block.header)
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in block.rows)
            body.append(f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>")
    style = ("body{font:15px/1.5 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#1f2937}"
             "h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #e5e7eb}"
             "table{border-collapse:collapse}td,th{border-bottom:1px solid #e5e7eb;padding:3px 10px;text-align:left}"
             "th{background:#f3f4f6}li{margin:.3em 0}")
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")
