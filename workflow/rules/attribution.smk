rule attribute:
    # One job per method and replicate for all its regimes: for most methods a regime's work is
    # shorter than a job's start-up (torch, anndata and captum: about 2 CPU s), while a job per
    # method keeps adding a method to adding its jobs. The model inputs and both outputs list the
    # regimes in params.regimes' order (the job pairs them).
    input:
        prepared="results/{ds}/prepared.h5ad",
        models=expand("results/{{ds}}/seed{{seed}}/models/{regime}.pt", regime=REGIMES),
        per_class=expand("results/{{ds}}/seed{{seed}}/metrics/{regime}_per_class.tsv", regime=REGIMES),
    output:
        attributions=expand("results/{{ds}}/seed{{seed}}/attributions/{regime}/{{method}}.h5ad", regime=REGIMES),
        importance=expand("results/{{ds}}/seed{{seed}}/importance/{regime}/{{method}}.tsv", regime=REGIMES),
    log:
        "logs/{ds}/seed{seed}/attribute_{method}.log",
    benchmark:
        "results/{ds}/benchmarks/attribute/seed{seed}_{method}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=0,
        mem_mb=memory_mb(3000, 40),
        runtime=runtime_minutes(30 * len(REGIMES), 10),
    params:
        entry=lambda wildcards: config["attribution"]["methods"][wildcards.method],
        cells_per_type=config["attribution"]["cells_per_type"],
        target=config["attribution"]["target"],
        importance=config["importance"],
        on_flag=config["model_check"]["on_flag"],
        regimes=REGIMES,
        seed=replicate_seed,
        device=config["device"],
    script:
        "../scripts/attribute.py"


rule consensus:
    # One job per replicate for all its regimes: a regime's consensus reads eight small tables and
    # draws one figure, less than a job's start-up. The table and heatmap outputs list the regimes
    # in params.regimes' order; the importance tables say their regime and method in their columns.
    input:
        importance=expand(
            "results/{{ds}}/seed{{seed}}/importance/{regime}/{method}.tsv", regime=REGIMES, method=METHODS
        ),
        prepared="results/{ds}/prepared.h5ad",
    output:
        tables=expand("results/{{ds}}/seed{{seed}}/consensus/{regime}.tsv", regime=REGIMES),
        heatmaps=[
            report(
                f"results/{{ds}}/seed{{seed}}/figures/consensus_{regime}.png",
                caption="../report/consensus.rst",
                category="{ds}",
                subcategory="3 interpretation",
                labels={"figure": "consensus heatmap", "regime": regime, "seed": "{seed}"},
            )
            for regime in REGIMES
        ],
    log:
        "logs/{ds}/seed{seed}/consensus.log",
    benchmark:
        "results/{ds}/benchmarks/consensus/seed{seed}.tsv"
    conda:
        "../envs/scanpy.yaml"
    resources:
        mem_mb=memory_mb(1000, 1),
        runtime=runtime_minutes(5, 0),
    params:
        consensus=config["consensus"],
        direction=config["importance"]["direction"],
        n_methods=len(METHODS),
        regimes=REGIMES,
    script:
        "../scripts/consensus.py"
