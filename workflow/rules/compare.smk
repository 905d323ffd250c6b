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
    output:
        summary=report(
            "results/comparison/summary.tsv",
            caption="../report/compare_summary.rst",
            category="comparison",
            subcategory="all datasets",
            labels={"table": "datasets x regimes"},
        ),
        methods=report(
            "results/comparison/methods.tsv",
            caption="../report/compare_methods.rst",
            category="comparison",
            subcategory="all datasets",
            labels={"table": "datasets x regimes x methods"},
        ),
        differences=report(
            "results/comparison/differences.tsv",
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
    script:
        "../scripts/compare.py"
