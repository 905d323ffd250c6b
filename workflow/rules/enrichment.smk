rule enrich:
    input:
        consensus="results/{ds}/seed{seed}/consensus/{regime}.tsv",
        prepared="results/{ds}/prepared.h5ad",
    output:
        table="results/{ds}/seed{seed}/enrichment/{regime}.tsv",
        table_view=report(
            "results/{ds}/seed{seed}/enrichment/{regime}.html",
            caption="../report/enrichment.rst",
            category="{ds}",
            subcategory="5 enrichment",
            labels={"table": "enriched terms", "regime": "{regime}", "seed": "{seed}"},
        ),
        info="results/{ds}/seed{seed}/enrichment/{regime}.json",
        heatmap=report(
            "results/{ds}/seed{seed}/figures/enrichment_{regime}.png",
            caption="../report/enrichment.rst",
            category="{ds}",
            subcategory="5 enrichment",
            labels={"figure": "terms x cell types", "regime": "{regime}", "seed": "{seed}"},
        ),
        dotplots=report(
            directory("results/{ds}/seed{seed}/figures/enrichment_{regime}_dotplots"),
            patterns=["{name}.png"],
            caption="../report/enrichment_dotplot.rst",
            category="{ds}",
            subcategory="5 enrichment",
            labels={"figure": "dot plot {name}", "regime": "{regime}", "seed": "{seed}"},
        ),
    log:
        "logs/{ds}/seed{seed}/enrich_{regime}.log",
    benchmark:
        "results/{ds}/benchmarks/enrich/seed{seed}_{regime}.tsv"
    conda:
        "../envs/enrichment.yaml"
    resources:
        mem_mb=memory_mb(1000, 5),
        runtime=runtime_minutes(15, 0),
    params:
        enrichment=config["enrichment"],
        direction=config["importance"]["direction"],
        organism=lambda wildcards: config["datasets"][wildcards.ds]["organism"],
        seed=replicate_seed,
    script:
        "../scripts/enrich.py"
