# The two commands: `make run` serves the API, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint migrate secret-key bench bench-mail clean

$(VENV)/installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/installed-dev: $(VENV)/installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# A .env with a freshly generated SECRET_KEY, unless one is set already.
secret-key:
	@if [ -z "$$SECRET_KEY" ] && ! grep -qs '^SECRET_KEY=.' .env; then \
		key=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))'); \
		if grep -qs '^SECRET_KEY=' .env; then \
			sed -i "s/^SECRET_KEY=$$/SECRET_KEY=$$key/" .env; \
		else \
			echo "SECRET_KEY=$$key" >> .env; \
		fi; \
		echo "Wrote a new SECRET_KEY to .env"; \
	fi

migrate: $(VENV)/installed secret-key
	$(BIN)/alembic upgrade head

# `make run PORT=8001` serves on another port. PORT goes into the server's environment too,
# so that the links in messages follow it (unless PUBLIC_URL says otherwise).
PORT ?= 8000
run: migrate
	PORT=$(PORT) $(BIN)/uvicorn contacts_api.main:app --host 127.0.0.1 --port $(PORT)

lint: $(VENV)/installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# On PostgreSQL (TEST_DATABASE_URL), then the same tests on a temporary SQLite file
# (but the fault tests, which bring a PostgreSQL of their own).
# What this machine cannot test (no Chromium, no pg_ctl) is said before and after.
test: lint
	@$(BIN)/python -m tests.untested
	$(BIN)/pytest
	TEST_DATABASE_URL=sqlite:// $(BIN)/pytest -q --ignore=tests/test_database_faults.py
	@$(BIN)/python -m tests.untested

# Throughput and latency on PostgreSQL (BENCH_DATABASE_URL) next to a bare JWT endpoint.
bench: $(VENV)/installed-dev
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.sync
	$(BIN)/python -m bench.dav

# The routes that write a message (signup, forgot-password) and the outbox's delivery rate,
# against a local SMTP sink (docs/performance.md#the-outbox-delivery-signup-and-forgot-password).
bench-mail: $(VENV)/installed-dev
	$(BIN)/python -m bench.accounts
	$(BIN)/python -m bench.delivery

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
