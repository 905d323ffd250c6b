rule robustness:
    # One job per replicate for all its regimes' models: a model's sweep takes about as long as a
    # job's start-up. The model inputs and the table outputs list the regimes in params.regimes'
    # order (the job pairs them).
    input:
        prepared="results/{ds}/prepared.h5ad",
        models=expand("results/{{ds}}/seed{{seed}}/models/{regime}.pt", regime=REGIMES),
        eps_structure=eps_structure_if_auto,
    output:
        tables=expand("results/{{ds}}/seed{{seed}}/robustness/{regime}.tsv", regime=REGIMES),
        radii=expand("results/{{ds}}/seed{{seed}}/robustness/radius_{regime}.tsv", regime=REGIMES),
    log:
        "logs/{ds}/seed{seed}/robustness.log",
    benchmark:
        "results/{ds}/benchmarks/robustness/seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=0,
        mem_mb=memory_mb(2000, 20),
        runtime=runtime_minutes(30 * len(REGIMES), 5),
    params:
        robustness=config["robustness"],
        attack=config["attack"],
        regimes=REGIMES,
        seed=replicate_seed,
        device=config["device"],
    script:
        "../scripts/robustness.py"


rule robustness_baseline:
    input:
        prepared="results/{ds}/prepared.h5ad",
        model="results/{ds}/models/logreg.npz",
        eps_structure=eps_structure_if_auto,
    output:
        table="results/{ds}/robustness/logreg.tsv",
    log:
        "logs/{ds}/robustness_logreg.log",
    benchmark:
        "results/{ds}/benchmarks/robustness_baseline/logreg.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=memory_mb(2000, 20),
        runtime=runtime_minutes(30, 5),
    params:
        robustness=config["robustness"],
        attack=config["attack"],
        seed=config["seed"],
    script:
        "../scripts/robustness_baseline.py"


rule robustness_curves:
    input:
        models=per_replicate("results/{ds}/seed{seed}/robustness/{regime}.tsv"),
        logistic=["results/{ds}/robustness/logreg.tsv"] if config["robustness"]["logistic_baseline"] else [],
        celltypist=celltypist_outputs("results/{ds}/robustness/celltypist.tsv"),
        radii=per_replicate("results/{ds}/seed{seed}/robustness/radius_{regime}.tsv"),
    output:
        accuracy=report(
            "results/{ds}/figures/robustness_accuracy.png",
            caption="../report/robustness.rst",
            category="{ds}",
            subcategory="2 robustness",
            labels={"figure": "accuracy under attack"},
        ),
        macro_f1=report(
            "results/{ds}/figures/robustness_macro_f1.png",
            caption="../report/robustness.rst",
            category="{ds}",
            subcategory="2 robustness",
            labels={"figure": "macro-F1 under attack"},
        ),
        table="results/{ds}/robustness/summary.tsv",
        table_view=report(
            "results/{ds}/robustness/summary.html",
            caption="../report/robustness_table.rst",
            category="{ds}",
            subcategory="2 robustness",
            labels={"table": "robustness of every model"},
        ),
        radius="results/{ds}/robustness/radius.tsv",
        radius_view=report(
            "results/{ds}/robustness/radius.html",
            caption="../report/radius.rst",
            category="{ds}",
            subcategory="2 robustness",
            labels={"table": "certified radius per cell type"},
        ),
        radius_figure=report(
            "results/{ds}/figures/certified_radius.png",
            caption="../report/radius.rst",
            category="{ds}",
            subcategory="2 robustness",
            labels={"figure": "certified radius per cell type"},
        ),
    log:
        "logs/{ds}/robustness_curves.log",
    benchmark:
        "results/{ds}/benchmarks/robustness_curves/{ds}.tsv"
    conda:
        "../envs/scanpy.yaml"
    resources:
        mem_mb=memory_mb(1000, 0),
        runtime=runtime_minutes(5, 0),
    script:
        "../scripts/robustness_curves.py"


rule eps_structure:
    input:
        prepared="results/{ds}/prepared.h5ad",
        # The budget is the dataset's, chosen on the first replicate's standard model.
        model=f"results/{{ds}}/seed{SEEDS[0]}/models/standard.pt",
    output:
        table="results/{ds}/eps_structure/scores.tsv",
        summary="results/{ds}/eps_structure/summary.json",
        figure=report(
            "results/{ds}/figures/eps_structure.png",
            caption="../report/eps_structure.rst",
            category="{ds}",
            subcategory="2 robustness",
            labels={"figure": "structure under attack"},
        ),
    log:
        "logs/{ds}/eps_structure.log",
    benchmark:
        "results/{ds}/benchmarks/eps_structure/standard.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=0,
        mem_mb=memory_mb(3000, 20),
        runtime=runtime_minutes(30, 2),
    params:
        structure=config["eps_structure"],
        attack=config["attack"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/eps_structure.py"
