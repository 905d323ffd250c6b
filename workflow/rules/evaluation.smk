rule de_baseline:
    input:
        prepared="results/{ds}/prepared.h5ad",
    output:
        table="results/{ds}/evaluation/de_ranking.tsv",
    log:
        "logs/{ds}/de_baseline.log",
    benchmark:
        "results/{ds}/benchmarks/de_baseline/{ds}.tsv"
    params:
        alpha=config["evaluation"]["de_alpha"],
    resources:
        mem_mb=memory_mb(2000, 20),
        runtime=runtime_minutes(10, 1),
    conda:
        "../../envs/scanpy.yaml"
    script:
        "../../scripts/de_baseline.py"


rule de_overlap:
    input:
        consensus="results/{ds}/consensus/{regime}.tsv",
        de="results/{ds}/evaluation/de_ranking.tsv",
    output:
        table="results/{ds}/evaluation/de_overlap_{regime}.tsv",
        figure=report(
            "results/{ds}/figures/de_venn_{regime}.png",
            caption="../report/de_overlap.rst",
            category="{ds}",
            subcategory="4 evaluation",
            labels={"figure": "DE overlap", "model": "{regime}"},
        ),
    log:
        "logs/{ds}/de_overlap_{regime}.log",
    benchmark:
        "results/{ds}/benchmarks/de_overlap/{regime}.tsv"
    params:
        top_n=config["evaluation"]["de_top_n"],
    resources:
        mem_mb=memory_mb(1000, 1),
        runtime=runtime_minutes(5, 0),
    conda:
        "../../envs/scanpy.yaml"
    script:
        "../../scripts/de_overlap.py"


rule recovery:
    input:
        unpack(all_rankings),
        unpack(markers_file),
        prepared="results/{ds}/prepared.h5ad",
        de="results/{ds}/evaluation/de_ranking.tsv",
    output:
        table=report(
            "results/{ds}/evaluation/recovery.tsv",
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
    params:
        top_n=config["evaluation"]["recovery_top_n"],
    resources:
        mem_mb=memory_mb(1000, 5),
        runtime=runtime_minutes(5, 0),
    conda:
        "../../envs/scanpy.yaml"
    script:
        "../../scripts/recovery.py"


rule faithfulness:
    input:
        unpack(method_importances),
        prepared="results/{ds}/prepared.h5ad",
        model="results/{ds}/models/{regime}.pt",
        consensus="results/{ds}/consensus/{regime}.tsv",
    output:
        areas="results/{ds}/evaluation/faithfulness_{regime}.tsv",
        curves="results/{ds}/evaluation/faithfulness_curves_{regime}.tsv",
    log:
        "logs/{ds}/faithfulness_{regime}.log",
    benchmark:
        "results/{ds}/benchmarks/faithfulness/{regime}.tsv"
    params:
        evaluation=config["evaluation"],
        cells_per_type=config["attribution"]["cells_per_type"],
        seed=config["seed"],
        device=config["device"],
    threads: 2
    resources:
        gpu=0,
        mem_mb=memory_mb(3000, 20),
        runtime=runtime_minutes(30, 5),
    conda:
        "../../envs/torch.yaml"
    script:
        "../../scripts/faithfulness.py"


rule stability:
    input:
        prepared="results/{ds}/prepared.h5ad",
        model="results/{ds}/models/{regime}.pt",
    output:
        table="results/{ds}/evaluation/stability_{regime}.tsv",
    log:
        "logs/{ds}/stability_{regime}.log",
    benchmark:
        "results/{ds}/benchmarks/stability/{regime}.tsv"
    params:
        evaluation=config["evaluation"],
        methods=config["attribution"]["methods"],
        seed=config["seed"],
        device=config["device"],
    threads: 2
    resources:
        gpu=0,
        mem_mb=memory_mb(3000, 20),
        runtime=runtime_minutes(60, 10),
    conda:
        "../../envs/torch.yaml"
    script:
        "../../scripts/stability.py"


rule evaluation_figures:
    input:
        faithfulness=expand("results/{{ds}}/evaluation/faithfulness_{regime}.tsv", regime=REGIMES),
        curves=expand("results/{{ds}}/evaluation/faithfulness_curves_{regime}.tsv", regime=REGIMES),
        stability=expand("results/{{ds}}/evaluation/stability_{regime}.tsv", regime=REGIMES),
        de_overlap=expand("results/{{ds}}/evaluation/de_overlap_{regime}.tsv", regime=REGIMES),
    output:
        faithfulness=report(
            "results/{ds}/evaluation/faithfulness.tsv",
            caption="../report/faithfulness.rst",
            category="{ds}",
            subcategory="4 evaluation",
            labels={"table": "faithfulness"},
        ),
        de_overlap=report(
            "results/{ds}/evaluation/de_overlap.tsv",
            caption="../report/de_overlap.rst",
            category="{ds}",
            subcategory="4 evaluation",
            labels={"table": "DE overlap"},
        ),
        stability=report(
            "results/{ds}/evaluation/stability.tsv",
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
    log:
        "logs/{ds}/evaluation_figures.log",
    benchmark:
        "results/{ds}/benchmarks/evaluation_figures/{ds}.tsv"
    resources:
        mem_mb=memory_mb(1000, 1),
        runtime=runtime_minutes(5, 0),
    conda:
        "../../envs/scanpy.yaml"
    script:
        "../../scripts/evaluation_figures.py"
