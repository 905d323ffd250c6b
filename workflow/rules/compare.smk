rule compare:
    input:
        metrics=expand("results/{ds}/seed{seed}/metrics/{regime}.json", ds=DATASETS, seed=SEEDS, regime=REGIMES),
        robustness=expand("results/{ds}/robustness/summary.tsv", ds=DATASETS),
        structure=expand("results/{ds}/eps_structure/summary.json", ds=DATASETS),
        faithfulness=expand("results/{ds}/evaluation/faithfulness.tsv", ds=DATASETS),
        stability=expand("results/{ds}/evaluation/stability.tsv", ds=DATASETS),
        de_overlap=expand("results/{ds}/evaluation/de_overlap.tsv", ds=DATASETS),
        recovery=[f"results/{ds}/evaluation/recovery.tsv" for ds in DATASETS if has_key_genes(ds)],
        enrichment=expand(
            "results/{ds}/seed{seed}/enrichment/{regime}.json",
            ds=[ds for ds in DATASETS if not has_ground_truth(ds)],
            seed=SEEDS,
            regime=REGIMES,
        ),
        celltypist=expand("results/{ds}/celltypist/metrics.json", ds=DATASETS) if CELLTYPIST else [],
        queries=[path for ds in DATASETS for path in query_scores(ds)],
        sanity=expand("results/{ds}/evaluation/sanity.tsv", ds=DATASETS),
        consensus=expand("results/{ds}/seed{seed}/consensus/{regime}.tsv", ds=DATASETS, seed=SEEDS, regime=REGIMES),
        radius=expand("results/{ds}/robustness/radius.tsv", ds=DATASETS),
    output:
        summary="results/comparison/summary.tsv",
        summary_view=report(
            "results/comparison/summary.html",
            caption="../report/compare_summary.rst",
            category="comparison",
            subcategory="all datasets",
            labels={"table": "datasets x regimes"},
        ),
        replicates="results/comparison/replicates.tsv",
        methods="results/comparison/methods.tsv",
        methods_view=report(
            "results/comparison/methods.html",
            caption="../report/compare_methods.rst",
            category="comparison",
            subcategory="all datasets",
            labels={"table": "datasets x regimes x methods"},
        ),
        differences="results/comparison/differences.tsv",
        differences_view=report(
            "results/comparison/differences.html",
            caption="../report/compare_differences.rst",
            category="comparison",
            subcategory="all datasets",
            labels={"table": "adversarial minus standard, over seeds"},
        ),
        figure=report(
            "results/comparison/comparison.png",
            caption="../report/compare_figure.rst",
            category="comparison",
            subcategory="all datasets",
            labels={"figure": "regimes compared"},
        ),
        verdict=report(
            "results/verdict.html",
            caption="../report/verdict.rst",
            category="comparison",
            subcategory="all datasets",
            labels={"page": "verdict"},
        ),
        verdict_rst="results/verdict.rst",
    log:
        "logs/compare.log",
    benchmark:
        "results/comparison/benchmarks/compare/all.tsv"
    conda:
        "../envs/scanpy.yaml"
    resources:
        mem_mb=memory_mb(1000, 1),
        runtime=runtime_minutes(5, 0),
    params:
        datasets=DATASETS,
        regimes=REGIMES,
        methods=METHODS,
        attack=config["attack"],
        verdict={
            "replicates": config["replicates"],
            "min_type_f1": config["importance"]["min_type_f1"],
            "min_cells": config["importance"]["min_cells"],
            "recovery_top_n": config["evaluation"]["recovery_top_n"],
            "sanity_threshold": config["evaluation"]["sanity_threshold"],
        },
    script:
        "../scripts/compare.py"
