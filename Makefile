# The two commands a newcomer needs: `make dev` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: dev test test-service chaos lint procs bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $@

## dev: run web, worker and beat in one process on SQLite (http://127.0.0.1:5000)
dev: $(BIN)/.installed
	$(BIN)/modelhooks dev

## test: install what the tests need and run them all (PostgreSQL and Redis on 127.0.0.1)
test: test-service test-sdk

## test-service: the service's own tests, unit and end to end
test-service: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## chaos: the fault suite; starts its own Redis and PostgreSQL on free loopback ports
## (CHAOS_EVENTS x CHAOS_CALLBACKS sets the deliveries of the kill cases)
chaos: $(BIN)/.installed
	$(BIN)/pip install --quiet -e '.[test,dev,chaos]'
	$(BIN)/python -m pytest chaos -p no:cacheprovider -s -m chaos \
		--basetemp=$(CURDIR)/.chaos-tmp $(PYTEST_ARGS)

## lint: ruff over the Python code
lint: $(BIN)/.installed
	$(BIN)/ruff check app workers tests

## procs: web, worker and beat of the Procfile against the local Redis and PostgreSQL
PROCS_ENV = DATABASE_URL=$${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} PORT=$${PORT:-5000} PATH=$(BIN):$$PATH
procs: $(BIN)/.installed
	$(PROCS_ENV) $(BIN)/modelhooks migrate
	$(PROCS_ENV) $(BIN)/honcho start web worker beat

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache

## bench: start PostgreSQL, Redis, gunicorn, a worker and a receiver on 127.0.0.1, run the workloads, print the table (BENCH_QUICK=1 for a smoke run)
bench: $(BIN)/.installed
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.run

include sdk/Makefile.fragment
