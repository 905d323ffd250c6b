rule logistic_baseline:
    input:
        prepared="results/{ds}/prepared.h5ad",
    output:
        model="results/{ds}/models/logreg.npz",
        metrics="results/{ds}/metrics/logreg.json",
        ranking="results/{ds}/evaluation/logistic_ranking.tsv",
    log:
        "logs/{ds}/logistic_baseline.log",
    benchmark:
        "results/{ds}/benchmarks/logistic_baseline/logreg.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=memory_mb(2000, 20),
        runtime=runtime_minutes(10, 2),
    params:
        seed=config["seed"],
        train_cells=config["model_check"]["logistic_train_cells"],
    script:
        "../scripts/logistic_baseline.py"


rule train:
    input:
        prepared="results/{ds}/prepared.h5ad",
        logistic="results/{ds}/metrics/logreg.json",
    output:
        model="results/{ds}/seed{seed}/models/standard.pt",
        metrics="results/{ds}/seed{seed}/metrics/standard.json",
        per_class="results/{ds}/seed{seed}/metrics/standard_per_class.tsv",
        history="results/{ds}/seed{seed}/metrics/standard_history.tsv",
        confusion=report(
            "results/{ds}/seed{seed}/figures/confusion_standard.png",
            caption="../report/confusion.rst",
            category="{ds}",
            subcategory="1 classifier",
            labels={"figure": "confusion matrix", "regime": "standard", "seed": "{seed}"},
        ),
        curves=report(
            "results/{ds}/seed{seed}/figures/training_standard.png",
            caption="../report/training_curves.rst",
            category="{ds}",
            subcategory="1 classifier",
            labels={"figure": "training curves", "regime": "standard", "seed": "{seed}"},
        ),
    log:
        "logs/{ds}/seed{seed}/train_standard.log",
    benchmark:
        "results/{ds}/benchmarks/train/seed{seed}_standard.tsv"
    conda:
        "../envs/torch.yaml"
    threads: dataset_threads
    resources:
        gpu=0,
        mem_mb=memory_mb(2000, 20),
        runtime=runtime_minutes(30, 2),
    params:
        config=replicate_config("device", "model", "model_check", "train"),
        regime="standard",
    script:
        "../scripts/train.py"


rule adv_train:
    input:
        prepared="results/{ds}/prepared.h5ad",
        standard=standard_model_if_needed,
        eps_structure=eps_structure_if_auto,
        logistic="results/{ds}/metrics/logreg.json",
    output:
        model="results/{ds}/seed{seed}/models/{regime}.pt",
        metrics="results/{ds}/seed{seed}/metrics/{regime}.json",
        per_class="results/{ds}/seed{seed}/metrics/{regime}_per_class.tsv",
        history="results/{ds}/seed{seed}/metrics/{regime}_history.tsv",
        confusion=report(
            "results/{ds}/seed{seed}/figures/confusion_{regime}.png",
            caption="../report/confusion.rst",
            category="{ds}",
            subcategory="1 classifier",
            labels={"figure": "confusion matrix", "regime": "{regime}", "seed": "{seed}"},
        ),
        curves=report(
            "results/{ds}/seed{seed}/figures/training_{regime}.png",
            caption="../report/training_curves.rst",
            category="{ds}",
            subcategory="1 classifier",
            labels={"figure": "training curves", "regime": "{regime}", "seed": "{seed}"},
        ),
    log:
        "logs/{ds}/seed{seed}/train_{regime}.log",
    benchmark:
        "results/{ds}/benchmarks/adv_train/seed{seed}_{regime}.tsv"
    wildcard_constraints:
        regime="fgsm|pgd|ibp",
    conda:
        "../envs/torch.yaml"
    threads: dataset_threads
    resources:
        gpu=0,
        mem_mb=memory_mb(2000, 20),
        runtime=runtime_minutes(60, 10),
    params:
        config=replicate_config("device", "model", "model_check", "train", "attack", "adversarial_training"),
        regime=lambda wildcards: wildcards.regime,
    script:
        "../scripts/adv_train.py"


rule celltypist:
    input:
        source_files,
        prepared="results/{ds}/prepared.h5ad",
        eps_structure=eps_structure_if_auto,
    output:
        model="results/{ds}/celltypist/model.npz",
        metrics="results/{ds}/celltypist/metrics.json",
        robustness="results/{ds}/robustness/celltypist.tsv",
        ranking="results/{ds}/evaluation/celltypist_ranking.tsv",
    log:
        "logs/{ds}/celltypist.log",
    benchmark:
        "results/{ds}/benchmarks/celltypist/{ds}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=prepare_memory_mb,
        runtime=runtime_minutes(15, 1),
    params:
        spec=prepare_spec,
        queries=lambda wildcards: config["datasets"][wildcards.ds].get("queries", {}),
        celltypist=config["celltypist"],
        folder=lambda wildcards: f"results/{wildcards.ds}/celltypist/home",
        eps_grid=config["robustness"]["eps_grid"],
        attack=config["attack"],
        seed=config["seed"],
    script:
        "../scripts/celltypist.py"


rule annotate_query:
    # One job per query and replicate for every regime: the query is aligned and replayed once.
    input:
        query=query_source,
        models=expand("results/{{ds}}/seed{{seed}}/models/{regime}.pt", regime=REGIMES),
    output:
        labelled="results/{ds}/seed{seed}/queries/{query}.h5ad",
        scores="results/{ds}/seed{seed}/queries/{query}_scores.tsv",
    log:
        "logs/{ds}/seed{seed}/annotate_{query}.log",
    benchmark:
        "results/{ds}/benchmarks/annotate_query/seed{seed}_{query}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        gpu=0,
        mem_mb=memory_mb(2000, 30),
        runtime=runtime_minutes(15, 1),
    params:
        spec=lambda wildcards: config["datasets"][wildcards.ds]["queries"][wildcards.query],
        annotation=config["annotation"],
        device=config["device"],
    script:
        "../scripts/annotate_query.py"
