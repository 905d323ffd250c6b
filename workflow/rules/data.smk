rule prepare:
    output:
        "results/{ds}/prepared.h5ad",
    log:
        "logs/{ds}/prepare.log",
    benchmark:
        "results/{ds}/benchmarks/prepare.tsv"
    params:
        spec=lambda wildcards: config["datasets"][wildcards.ds],
        prepare=config["prepare"],
        seed=config["seed"],
    conda:
        "../../envs/scanpy.yaml"
    script:
        "../../scripts/prepare.py"
