# The two commands that matter: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
ENV := scripts/env.sh
STUDENTS ?= 300

.PHONY: demo test lint bootstrap db stop bench clean

bootstrap:
	@scripts/bootstrap.sh

db: bootstrap
	@$(ENV) och-dashboard upstream create
	@$(ENV) och-dashboard db upgrade

demo: bootstrap
	@$(ENV) scripts/demo.sh $(STUDENTS)

test: bootstrap lint
	@$(ENV) python -m pytest $(PYTEST_ARGS)

lint: bootstrap
	@$(ENV) ruff check src jobs tests bench wsgi.py
	@$(ENV) ruff format --check src jobs tests bench wsgi.py
	@$(ENV) scripts/plpgsql_check.sh

bench: bootstrap
	@$(ENV) python -m bench.run $(BENCH_ARGS)

stop:
	@scripts/stop.sh

clean: stop
	rm -rf .local .venv
