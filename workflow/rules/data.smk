rule prepare:
    input:
        source_files,
    output:
        prepared="results/{ds}/prepared.h5ad",
    log:
        "logs/{ds}/prepare.log",
    benchmark:
        "results/{ds}/benchmarks/prepare/{ds}.tsv"
    conda:
        "../envs/scanpy.yaml"
    resources:
        mem_mb=prepare_memory_mb,
        runtime=runtime_minutes(10, 0.5),
    params:
        spec=prepare_spec,
        prepare=config["prepare"],
        seed=config["seed"],
    script:
        "../scripts/prepare.py"
