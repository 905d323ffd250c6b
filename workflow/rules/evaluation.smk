rule de_baseline:
    input:
        prepared="results/{ds}/prepared.h5ad",
    output:
        table="results/{ds}/evaluation/de_ranking.tsv",
    log:
        "logs/{ds}/de_baseline.log",
    benchmark:
        "results/{ds}/benchmarks/de_baseline/{ds}.tsv"
    conda:
        "../envs/scanpy.yaml"
    resources:
        mem_mb=memory_mb(2000, 20),
        runtime=runtime_minutes(10, 1),
    params:
        alpha=config["evaluation"]["de_alpha"],
    script:
        "../scripts/de_baseline.py"


rule de_overlap:
    # One job per replicate for all its regimes: each regime's work is reading two tables and
    # drawing one figure, less than a job's start-up. The inputs and both outputs list the regimes
    # in the same order (the job pairs them).
    input:
        consensus=expand("results/{{ds}}/seed{{seed}}/consensus/{regime}.tsv", regime=REGIMES),
        de="results/{ds}/evaluation/de_ranking.tsv",
        logistic="results/{ds}/evaluation/logistic_ranking.tsv",
    output:
        tables=expand("results/{{ds}}/seed{{seed}}/evaluation/de_overlap_{regime}.tsv", regime=REGIMES),
        figures=[
            report(
                f"results/{{ds}}/seed{{seed}}/figures/de_venn_{regime}.png",
                caption="../report/de_overlap.rst",
                category="{ds}",
                subcategory="4 evaluation",
                labels={"figure": "DE overlap", "regime": regime, "seed": "{seed}"},
            )
            for regime in REGIMES
        ],
    log:
        "logs/{ds}/seed{seed}/de_overlap.log",
    benchmark:
        "results/{ds}/benchmarks/de_overlap/seed{seed}.tsv"
    conda:
        "../envs/scanpy.yaml"
    resources:
        mem_mb=memory_mb(1000, 1),
        runtime=runtime_minutes(5, 0),
    params:
        top_n=config["evaluation"]["de_top_n"],
    script:
        "../scripts/de_overlap.py"


rule recovery:
    input:
        unpack(markers_file),
        importance=per_replicate("results/{ds}/seed{seed}/importance/{regime}/{method}.tsv"),
        consensus=per_replicate("results/{ds}/seed{seed}/consensus/{regime}.tsv"),
        prepared="results/{ds}/prepared.h5ad",
        de="results/{ds}/evaluation/de_ranking.tsv",
        logistic="results/{ds}/evaluation/logistic_ranking.tsv",
        celltypist=celltypist_outputs("results/{ds}/evaluation/celltypist_ranking.tsv"),
    output:
        table="results/{ds}/evaluation/recovery.tsv",
        table_view=report(
            "results/{ds}/evaluation/recovery.html",
            caption="../report/recovery.rst",
            category="{ds}",
            subcategory="4 evaluation",
            labels={"table": "key-gene recovery"},
        ),
        figure=report(
            "results/{ds}/figures/recovery.png",
            caption="../report/recovery.rst",
            category="{ds}",
            subcategory="4 evaluation",
            labels={"figure": "key-gene recovery"},
        ),
    log:
        "logs/{ds}/recovery.log",
    benchmark:
        "results/{ds}/benchmarks/recovery/{ds}.tsv"
    conda:
        "../envs/scanpy.yaml"
    resources:
        mem_mb=memory_mb(1000, 5),
        runtime=runtime_minutes(5, 0),
    params:
        top_n=config["evaluation"]["recovery_top_n"],
    script:
        "../scripts/recovery.py"


rule faithfulness:
    # One job per replicate for all its regimes, as stability: a model's curves take about as long
    # as a job's start-up. The model inputs and both outputs list the regimes in params.regimes'
    # order; the importance and consensus tables name their regime (and method) in their columns.
    input:
        importance=expand(
            "results/{{ds}}/seed{{seed}}/importance/{regime}/{method}.tsv", regime=REGIMES, method=METHODS
        ),
        consensus=expand("results/{{ds}}/seed{{seed}}/consensus/{regime}.tsv", regime=REGIMES),
        prepared="results/{ds}/prepared.h5ad",
        models=expand("results/{{ds}}/seed{{seed}}/models/{regime}.pt", regime=REGIMES),
    output:
        areas=expand("results/{{ds}}/seed{{seed}}/evaluation/faithfulness_{regime}.tsv", regime=REGIMES),
        curves=expand("results/{{ds}}/seed{{seed}}/evaluation/faithfulness_curves_{regime}.tsv", regime=REGIMES),
    log:
        "logs/{ds}/seed{seed}/faithfulness.log",
    benchmark:
        "results/{ds}/benchmarks/faithfulness/seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=0,
        mem_mb=memory_mb(3000, 20),
        runtime=runtime_minutes(30 * len(REGIMES), 5),
    params:
        evaluation=config["evaluation"],
        cells_per_type=config["attribution"]["cells_per_type"],
        regimes=REGIMES,
        seed=replicate_seed,
        device=config["device"],
    script:
        "../scripts/faithfulness.py"


rule stability:
    # One job per replicate for all its regimes (params.regimes' order, as the model inputs and
    # the table outputs): every regime is scored on the same cells and perturbations.
    input:
        prepared="results/{ds}/prepared.h5ad",
        models=expand("results/{{ds}}/seed{{seed}}/models/{regime}.pt", regime=REGIMES),
    output:
        tables=expand("results/{{ds}}/seed{{seed}}/evaluation/stability_{regime}.tsv", regime=REGIMES),
    log:
        "logs/{ds}/seed{seed}/stability.log",
    benchmark:
        "results/{ds}/benchmarks/stability/seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=0,
        mem_mb=memory_mb(3000, 20),
        runtime=runtime_minutes(60 * len(REGIMES), 10),
    params:
        evaluation=config["evaluation"],
        methods=config["attribution"]["methods"],
        regimes=REGIMES,
        seed=replicate_seed,
        device=config["device"],
    script:
        "../scripts/stability.py"


rule sanity:
    # One job per replicate for the regimes of evaluation.sanity_regimes (params.regimes' order, as
    # the model inputs and the table outputs): every method on the same cells and copies.
    input:
        prepared="results/{ds}/prepared.h5ad",
        models=expand("results/{{ds}}/seed{{seed}}/models/{regime}.pt", regime=SANITY_REGIMES),
    output:
        tables=expand("results/{{ds}}/seed{{seed}}/evaluation/sanity_{regime}.tsv", regime=SANITY_REGIMES),
    log:
        "logs/{ds}/seed{seed}/sanity.log",
    benchmark:
        "results/{ds}/benchmarks/sanity/seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=0,
        mem_mb=memory_mb(3000, 20),
        runtime=runtime_minutes(30 * len(SANITY_REGIMES), 10),
    params:
        evaluation=config["evaluation"],
        methods=config["attribution"]["methods"],
        cells_per_type=config["attribution"]["cells_per_type"],
        rank_by=config["importance"]["rank_by"],
        regimes=SANITY_REGIMES,
        seed=replicate_seed,
        device=config["device"],
    script:
        "../scripts/sanity.py"


rule evaluation_figures:
    input:
        faithfulness=per_replicate("results/{ds}/seed{seed}/evaluation/faithfulness_{regime}.tsv"),
        curves=per_replicate("results/{ds}/seed{seed}/evaluation/faithfulness_curves_{regime}.tsv"),
        stability=per_replicate("results/{ds}/seed{seed}/evaluation/stability_{regime}.tsv"),
        de_overlap=per_replicate("results/{ds}/seed{seed}/evaluation/de_overlap_{regime}.tsv"),
        sanity=lambda wildcards: expand(
            "results/{ds}/seed{seed}/evaluation/sanity_{regime}.tsv",
            ds=wildcards.ds,
            seed=SEEDS,
            regime=SANITY_REGIMES,
        ),
    output:
        faithfulness="results/{ds}/evaluation/faithfulness.tsv",
        faithfulness_view=report(
            "results/{ds}/evaluation/faithfulness.html",
            caption="../report/faithfulness.rst",
            category="{ds}",
            subcategory="4 evaluation",
            labels={"table": "faithfulness"},
        ),
        de_overlap="results/{ds}/evaluation/de_overlap.tsv",
        de_overlap_view=report(
            "results/{ds}/evaluation/de_overlap.html",
            caption="../report/de_overlap.rst",
            category="{ds}",
            subcategory="4 evaluation",
            labels={"table": "DE overlap"},
        ),
        stability="results/{ds}/evaluation/stability.tsv",
        stability_view=report(
            "results/{ds}/evaluation/stability.html",
            caption="../report/stability.rst",
            category="{ds}",
            subcategory="4 evaluation",
            labels={"table": "stability"},
        ),
        faithfulness_figure=report(
            "results/{ds}/figures/faithfulness.png",
            caption="../report/faithfulness.rst",
            category="{ds}",
            subcategory="4 evaluation",
            labels={"figure": "deletion and insertion curves"},
        ),
        stability_figure=report(
            "results/{ds}/figures/stability.png",
            caption="../report/stability.rst",
            category="{ds}",
            subcategory="4 evaluation",
            labels={"figure": "stability"},
        ),
        sanity="results/{ds}/evaluation/sanity.tsv",
        sanity_view=report(
            "results/{ds}/evaluation/sanity.html",
            caption="../report/sanity.rst",
            category="{ds}",
            subcategory="4 evaluation",
            labels={"table": "sanity checks"},
        ),
        sanity_figure=report(
            "results/{ds}/figures/sanity.png",
            caption="../report/sanity.rst",
            category="{ds}",
            subcategory="4 evaluation",
            labels={"figure": "sanity checks"},
        ),
    log:
        "logs/{ds}/evaluation_figures.log",
    benchmark:
        "results/{ds}/benchmarks/evaluation_figures/{ds}.tsv"
    conda:
        "../envs/scanpy.yaml"
    resources:
        mem_mb=memory_mb(1000, 1),
        runtime=runtime_minutes(5, 0),
    script:
        "../scripts/evaluation_figures.py"
