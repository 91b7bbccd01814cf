# Fig. 3: peak memory of the DiffPIR denoiser call vs inference patch size, one fresh process
# per point (the allocator's peak: CPU from the torch profiler, CUDA max_memory_allocated).


rule memory:
    input:
        prior=memory_prior,
    output:
        report("results/memory.csv", caption="../report/fig3.rst", category="Memory"),
    params:
        memory=config["memory"],
    log:
        "logs/memory.log",
    benchmark:
        "results/benchmarks/memory.tsv"
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    conda:
        "../environment.yml"
    script:
        "../workflow_scripts/memory.py"
