# graphsvc: the two commands that matter are `make run` and `make test`.
# Both create .venv and install what they need on a fresh machine with Python 3.11.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
HOST   ?= 127.0.0.1
PORT   ?= 8000
export GRAPHSVC_DATA ?= data/graphsvc.db

.PHONY: install run demo test lint typecheck contracts schema-check unit bench fuzz test-neo4j neo4j-server clean system-deps

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 is needed (python3.11 or python3 on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

## run: install, load the demo graph into the embedded store, and serve it on loopback
run: install
	$(BIN)/graphsvc demo
	@echo "serving http://$(HOST):$(PORT)/graphql (GraphiQL) and /api/v1 — Ctrl-C to stop"
	GRAPHSVC_ENV=development $(BIN)/graphsvc serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check graphsvc importers tests bench
	$(BIN)/ruff format --check graphsvc importers tests bench

typecheck: install
	$(BIN)/mypy --strict graphsvc importers

contracts: install
	$(BIN)/lint-imports

schema-check: install
	$(BIN)/graphsvc export-schema --check

## system-deps: the Debian packages the tests need: Graphviz (`dot`, the impact diagram),
## Chromium (the headless browser test), a JDK and Maven (the Neo4j 5 server the suite
## starts from Maven Central); installs only what is missing, with sudo unless root
## (elsewhere than Debian: a warning; the report tests skip, the Neo4j cases fail unless
## GRAPHSVC_SKIP_NEO4J=1 or GRAPHSVC_TEST_NEO4J_URI is set)
system-deps:
	@missing=""; \
	command -v dot >/dev/null 2>&1 || missing="$$missing graphviz"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v java >/dev/null 2>&1 || missing="$$missing default-jre-headless"; \
	command -v mvn >/dev/null 2>&1 || missing="$$missing maven"; \
	if [ -n "$$missing" ]; then \
		if ! command -v apt-get >/dev/null 2>&1; then \
			echo "system-deps: no apt-get here; install$$missing yourself (their tests skip)"; \
			exit 0; \
		fi; \
		if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
		echo "system-deps: installing$$missing"; \
		$$sudo apt-get update -q && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

## unit: the test suite as two pytest processes side by side, one per core: the cases on
## the real Neo4j 5 (mostly waiting on the server) with the slow ones (tests/conftest.py
## SLOW_MODULES), and all the others; the first half's output is printed when both are
## done; fails when either fails
unit: install system-deps
	@tmp=$$(mktemp -d); \
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "neo4j or slow" --durations=10 \
		--basetemp="$$tmp/neo4j" > "$$tmp/neo4j.log" 2>&1 & neo4j_pid=$$!; \
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not neo4j and not slow" --durations=15 \
		--basetemp="$$tmp/main"; main=$$?; \
	wait $$neo4j_pid; neo4j=$$?; \
	echo "======== the cases on Neo4j and the slow ones (pytest -m 'neo4j or slow') ========"; \
	cat "$$tmp/neo4j.log"; rm -rf "$$tmp"; \
	echo "the others: exit $$main; Neo4j and slow: exit $$neo4j"; \
	test $$main -eq 0 && test $$neo4j -eq 0

## test: everything CI checks: lint, types, layering, schema drift, the test suite
test: lint typecheck contracts schema-check unit

## test-neo4j: only the cases that need the real Neo4j 5 (`make test` runs them too):
## on GRAPHSVC_TEST_NEO4J_URI (with _USER, _PASSWORD, _DATABASE) if set, on docker compose
## with GRAPHSVC_TEST_NEO4J=docker, else on the server the suite starts from Maven Central
test-neo4j: install system-deps
	$(BIN)/python -m pytest -q -m neo4j

## neo4j-server: start the Neo4j 5 test server in the foreground (data kept in
## .neo4j-dev/) and print the GRAPHSVC_* settings that point graphsvc at it
neo4j-server: install system-deps
	$(BIN)/python tests/neo4j_server/server.py --home .neo4j-dev

bench: install
	$(BIN)/python bench/core_bench.py

## fuzz: the long fuzzing campaign (more than 10,000 cases: REST, GraphQL, every importer,
## the CLI), counts per target printed and written to bench/results/fuzz.json; `make test`
## runs the same tests with a short budget
fuzz: install
	$(BIN)/python bench/fuzz.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
