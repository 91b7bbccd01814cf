# The two commands a user needs: `make demo` and `make test`. Both set up the environment first.
SHELL := /bin/bash
SNAKEMAKE := .venv/bin/snakemake
CORES ?= 2

.PHONY: env demo demo-padis demo-scale test test-fast lint clean clean-all fetch-weights report

env:
	@bash ci/make-env.sh

demo: env
	@start=$$(date +%s); \
	$(SNAKEMAKE) --cores $(CORES) all && \
	$(SNAKEMAKE) --cores 1 report && $(SNAKEMAKE) --report results/report.html report && \
	echo "demo finished in $$(( $$(date +%s) - start )) s" && \
	echo "Table 1:   results/table1.csv, results/table1.md" && \
	echo "Figures:   results/figures/" && \
	echo "Report:    results/report.html"

demo-padis: env
	@start=$$(date +%s); \
	$(SNAKEMAKE) --cores $(CORES) padis && \
	echo "demo-padis finished in $$(( $$(date +%s) - start )) s; tables in results/padis/, figures in results/figures/padis/"

# The scale ladder (not part of demo): the papers' key contrasts at 64/128 px and two network
# sizes (config.yaml `scale:`); reuses the default run's priors and cells where present.
demo-scale: env
	@start=$$(date +%s); \
	$(SNAKEMAKE) --cores $(CORES) scale && \
	echo "demo-scale finished in $$(( $$(date +%s) - start )) s; results/scale/ladder.csv, ladder.md, ladder.png"

# The report of whatever has been built so far (brought up to date first).
report: env
	$(SNAKEMAKE) --cores 1 report && $(SNAKEMAKE) --report results/report.html report
	@echo "Report:    results/report.html"

test: env
	@if [ "$$(id -u)" = 0 ] && ! command -v slurmctld >/dev/null; then \
	  echo "make test: running as root without Slurm: the Slurm test (tests/test_slurm.py) will now"; \
	  echo "  install slurmctld slurmd slurm-client munge with apt-get (log /tmp/patchcore-slurm-apt.log),"; \
	  echo "  start a private single-node Slurm under /tmp/patchcore-slurm and link /etc/slurm/slurm.conf"; \
	  echo "  to its config while it runs (removed afterwards). To skip it: make test-fast."; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "make test: the Slurm test starts a private Slurm under /tmp/patchcore-slurm and links"; \
	  echo "  /etc/slurm/slurm.conf to its config while it runs (removed afterwards; skip: make test-fast)."; \
	fi
	.venv/bin/python -m pytest -ra

test-fast: env
	.venv/bin/python -m pytest -ra -m "not slurm"

# snakefmt (the Snakemake catalog's formatter) must leave the Snakefile and rules/*.smk unchanged;
# `.venv/bin/snakefmt Snakefile rules/` formats them.
lint: env
	.venv/bin/snakefmt --check Snakefile rules/
	$(SNAKEMAKE) --lint

fetch-weights: env
	.venv/bin/python -m patchcore.io.weights
	@echo "LPIPS: the next run of a table (e.g. $(SNAKEMAKE) --cores $(CORES) results/table1.csv) re-scores every cell from its saved reconstructions, without re-solving"

# Keeps the trained priors (results/priors: days of GPU time at paper scale) and the data they
# were trained on (results/prepared, resources/synthetic: regenerating them would make Snakemake
# retrain, their files being newer); clean-all removes everything.
clean:
	@if [ -d results ]; then find results -mindepth 1 -maxdepth 1 ! -name priors ! -name prepared -exec rm -rf {} +; fi
	rm -rf logs
	@echo "make clean: kept results/priors, results/prepared and resources/synthetic (make clean-all removes them)"

clean-all:
	rm -rf results resources/synthetic .snakemake logs
