# Self-documenting targets for the commands people type: `make help`.
.PHONY: help start test lint bench

help:  ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

start:  ## Install into .venv and start a worker on SQLite (README command one)
	./scripts/start

test:  ## Install test dependencies, lint and run the whole suite (README command two)
	./scripts/test

lint:  ## ruff over the package, tests and benchmarks
	.venv/bin/ruff check workflow_studio tests bench

bench:  ## Run the benchmarks (prints ratios against baselines measured in the same run)
	.venv/bin/python -m bench
