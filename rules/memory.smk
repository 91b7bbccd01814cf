# Fig. 3: peak memory of the DiffPIR denoiser call vs inference patch size, one fresh process
# per point (the allocator's peak: CPU from the torch profiler, CUDA max_memory_allocated);
# results/memory.json states the measuring method once.


rule memory:
    input:
        prior=memory_prior,
    output:
        csv="results/memory.csv",
        method="results/memory.json",
    log:
        "logs/memory.log",
    benchmark:
        "results/benchmarks/memory.tsv"
    conda:
        "../environment.yml"
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    params:
        memory=config["memory"],
    script:
        "../workflow_scripts/memory.py"
