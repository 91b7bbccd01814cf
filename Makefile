# The two commands a user needs: `make demo` and `make test`. Both set up the environment first.
SHELL := /bin/bash
SNAKEMAKE := .venv/bin/snakemake
CORES ?= 2

.PHONY: env demo demo-padis test test-fast lint clean fetch-weights

env:
	@bash ci/make-env.sh

demo: env
	@start=$$(date +%s); \
	$(SNAKEMAKE) --cores $(CORES) all && \
	$(SNAKEMAKE) --cores 1 --report results/report.html all && \
	echo "demo finished in $$(( $$(date +%s) - start )) s" && \
	echo "Table 1:   results/table1.csv, results/table1.md" && \
	echo "Figures:   results/figures/" && \
	echo "Report:    results/report.html"

demo-padis: env
	@start=$$(date +%s); \
	$(SNAKEMAKE) --cores $(CORES) padis && \
	echo "demo-padis finished in $$(( $$(date +%s) - start )) s; tables in results/padis/, figures in results/figures/padis/"

test: env
	.venv/bin/python -m pytest -ra

lint: env
	$(SNAKEMAKE) --lint

fetch-weights: env
	.venv/bin/python -m patchcore.io.weights

clean:
	rm -rf results resources/synthetic .snakemake logs
