# The two commands of the README:
#   make synth   install the toolkit and synthesize the example production stack offline
#   make test    install everything the tests need (the engine tier's binaries included) and run every test
.PHONY: setup setup-runtime engine synth test test-offline test-engine lint bench bench-engine clean

setup:
	bash .ci/setup

# the toolkit and its runtime dependencies only (what `make synth` needs)
setup-runtime:
	bash .ci/setup --runtime

# Pulumi CLI, kubernetes provider, kube-apiserver & co. and kwok, built from Go modules into
# ~/.cache/enclii-engine (ENCLII_ENGINE_CACHE); about 35 min the first time, seconds afterwards.
engine:
	bash tools/engine/build.sh

synth: setup-runtime
	.venv/bin/enclii-iac synth stacks/production --out out/production
	@echo
	@echo "resource tree:      out/production/tree.txt"
	@echo "kubernetes objects: out/production/manifests/"
	@echo "host scripts:       out/production/rendered/"

lint:
	.venv/bin/ruff check .
	.venv/bin/mypy

test: setup engine lint
	.venv/bin/pytest -q

test-offline: setup lint
	.venv/bin/pytest -q -m "not engine"

test-engine: setup engine
	.venv/bin/pytest -q tests/engine

bench: setup
	.venv/bin/python bench/synth_scale.py

bench-engine: setup engine
	.venv/bin/python -m bench.engine_scale

clean:
	rm -rf out .mypy_cache .ruff_cache .hypothesis
