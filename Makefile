# Stockdrop: `make demo` runs the pipeline on sample_data/; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STORE := sqlite:///$(CURDIR)/dagster_home/stockdrop.db
export DAGSTER_HOME := $(CURDIR)/dagster_home

.PHONY: demo test dev examples bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m pipelines sync --partners sample_data/partners.yaml --store $(STORE)
	$(PY) -m pipelines report --partners sample_data/partners.yaml --store $(STORE)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	bash scripts/install-test-services
	$(PY) -m pytest

examples: $(STAMP)  # the contract's own checker, when the contract folder is beside the repository
	@test -x ../shared/tools/check-examples || { echo "no ../shared/tools/check-examples beside the repository"; exit 2; }
	../shared/tools/check-examples

dev: $(STAMP)
	STOCKDROP_STORE_URL=$(STORE) STOCKDROP_PARTNERS=sample_data/partners.yaml $(VENV)/bin/dg dev

bench: $(STAMP)
	$(PY) benchmarks/million_rows.py

clean:
	rm -rf dagster_home/stockdrop.db* dagster_home/data dagster_home/exports dagster_home/results dagster_home/storage dagster_home/history dagster_home/schedules dagster_home/logs
