# The two commands a new user needs (see README.md).
.PHONY: dev test bench down

dev:  ## run the system locally
	bash scripts/dev.sh

test: ## install what is missing, start the local stack, run every test, stop the stack
	bash scripts/test.sh

bench: ## release-build benchmarks, reported as ratios against in-run baselines
	bash scripts/bench.sh

down: ## stop the local stack started by `make dev`
	bash infra/local/down.sh
