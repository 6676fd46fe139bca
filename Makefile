# The two commands of the README:
#   make synth   install the toolkit and synthesize the example production stack offline
#   make test    install everything the tests need and run every test
.PHONY: setup synth test lint bench clean

setup:
	bash .ci/setup

synth: setup
	.venv/bin/enclii-iac synth stacks/production --out out/production
	@echo
	@echo "resource tree:      out/production/tree.txt"
	@echo "kubernetes objects: out/production/manifests/"
	@echo "host scripts:       out/production/rendered/"

lint:
	.venv/bin/ruff check .
	.venv/bin/mypy

test: setup lint
	.venv/bin/pytest -q

bench: setup
	.venv/bin/python bench/synth_scale.py

clean:
	rm -rf out .mypy_cache .ruff_cache .hypothesis
