# The README's two commands are `make up` and `make test`; both create and use .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.perfmon-installed
EXTRAS := server,agent,tools,cli,dev

.PHONY: up test venv services tools lint clean bench bench-quick keycloak compose-test fuzz

$(STAMP): pyproject.toml scripts/venv.sh
	@bash scripts/venv.sh "$(PYTHON)" "$(VENV)" "$(EXTRAS)"
	@touch $(STAMP)

venv: $(STAMP)

## Start the whole system (web, control-plane worker, beat, local agent) in the foreground.
up: venv
	@$(PY) scripts/stack.py

## Run the whole test suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set, else embedded).
test: venv
	@$(PY) -m pytest $(PYTEST_ARGS)

## Install and start PostgreSQL and Redis on 127.0.0.1; prints the exports to eval.
services:
	@bash scripts/services.sh

## Install (once, under var/tools) and start Keycloak on 127.0.0.1:8180 with the project's realm; prints the exports to eval.
keycloak:
	@bash scripts/keycloak.sh

## Start the compose stack for real (local images from Debian's packages, host networking on
## 127.0.0.1) and drive it end to end, then remove it (docs/operations.md). Installs Docker and compose when missing.
compose-test:
	@$(PYTHON) scripts/compose_test.py

## Install the load tools that do not come from PyPI (JMeter, Gatling, Artillery) under var/tools.
tools:
	@bash scripts/install-tools.sh

## Schemathesis against both API documents at length (tests/fuzz, docs/reliability.md): the suite's
## bounded run with 200 examples an operation and a new seed each time.
fuzz: venv
	@PERFMON_FUZZ_EXAMPLES=$${PERFMON_FUZZ_EXAMPLES:-200} \
	  PERFMON_FUZZ_SEED=$${PERFMON_FUZZ_SEED:-$$(date +%s)} $(PY) -m pytest tests/fuzz -s $(PYTEST_ARGS)

## Measure every hot path against its baseline (a few minutes); writes bench/results/latest.json.
bench: venv
	@$(PY) bench/run.py

## The same at small sizes in about two minutes: a smoke test, its figures not meaningful.
bench-quick: venv
	@$(PY) bench/run.py --quick

lint: venv
	@$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) var/cache var/broker
