# The two commands a new user needs (see README.md).
.PHONY: dev test bench simulate down

dev:  ## run the system locally
	bash scripts/dev.sh

test: ## install what is missing, start the local stack, run every test, stop the stack
	bash scripts/test.sh

bench: ## release-build benchmarks, reported as ratios against in-run baselines
	bash scripts/bench.sh

simulate: ## the authorizer-caching model at internet scale: table, plot and docs/performance.md section
	python3 scripts/simulate_cache.py

down: ## stop the local stack started by `make dev`
	bash infra/local/down.sh
