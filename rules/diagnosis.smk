# Diagnosis of patch inference with a whole-trained prior (docs/results.md, "Why the whole-trained prior
# fails on small tiles"): held-out denoising by both Table 1 priors on tiles vs whole images,
# plus the experiments that separate context, attention, network input size and intensity.
# Not part of `all`: `snakemake results/figures/diagnosis_tiles.png`.


include: "diagnosis_common.smk"


rule diagnosis_tiles:
    input:
        unpack(diagnosis_inputs),
    output:
        png=report("results/figures/diagnosis_tiles.png", category="Figures"),
        csv="results/figures/diagnosis_tiles.csv",
    log:
        "logs/figures/diagnosis_tiles.log",
    benchmark:
        "results/benchmarks/figures/diagnosis_tiles.tsv"
    conda:
        "../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        spec=diagnosis_spec,
    script:
        "../workflow_scripts/diagnose_tiles.py"
