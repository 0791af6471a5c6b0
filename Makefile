# civicpay — the two commands of the quick start, and the developer's others.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench install clean

# Made again whenever pyproject.toml changes; the first time it downloads every package, which takes minutes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "civicpay needs Python 3.11 or newer (set PYTHON=python3.x)")'
	@echo "== make: installing civicpay and its development tools into $(VENV), as pyproject.toml lists them (the first time takes a few minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[dev]'
	@touch $(STAMP)
	@echo "== make: installed into $(VENV)"

install: $(STAMP)

## make run: migrate the embedded database under ./var, seed the demo once, serve on :8000 with a worker beside it and the card, bank and billers sandboxes on :8420, :8421 and :8422
run: $(STAMP)
	$(BIN)/civicpay db upgrade
	$(BIN)/civicpay demo
	@# The sandboxes and a worker (the outbox and the periodic jobs) beside the service, stopped with it;
	@# the worker is its own process, as in production, so the server does not run one in process.
	$(BIN)/civicpay-sandbox card serve & card=$$!; $(BIN)/civicpay-sandbox bank serve & bank=$$!; \
	  $(BIN)/civicpay-sandbox billers serve & billers=$$!; $(BIN)/civicpay worker & worker=$$!; \
	  trap 'kill $$card $$bank $$billers $$worker 2>/dev/null' EXIT INT TERM; CIVICPAY_WORKER_IN_PROCESS=false $(BIN)/civicpay serve

## make test: the whole suite; set CIVICPAY_DATABASE_URL=postgresql+asyncpg://… to run it on PostgreSQL
test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## make bench: transfer throughput on PostgreSQL against pgbench (needs a local PostgreSQL)
bench: $(STAMP)
	$(BIN)/python -m bench.transfers

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
