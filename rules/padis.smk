# PaDIS (Hu et al.): sparse-view CT tables and ablations (snakemake padis). Filled in by the
# PaDIS work; the target exists so that `snakemake padis` is a known name.
