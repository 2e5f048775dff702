# One entry point per task; CI runs `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_STAMP := $(VENV)/.demo-stamp
# pytest workers: 2 by default (the test machines have 2 cores); PYTEST_WORKERS=0 runs in one.
PYTEST_WORKERS ?= 2

.PHONY: install system-deps test lint typecheck unit demo bench clean

# torch==2.13.0 first: pip takes the local CPU wheel, and nothing after may pull another torch.
$(STAMP): pyproject.toml
	@echo "==> make install: a virtual environment in $(VENV) with modelpack, every extra and the test tools"
	@echo "    (PyTorch 2.13.0 CPU first; a few minutes on a fresh machine)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[all,spark,test]'
	@$(BIN)/python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	touch $(DEMO_STAMP) $@

# The demo needs modelpack and scikit-learn only: seconds, not the whole test extra.
$(DEMO_STAMP): pyproject.toml
	@echo "==> make demo: a virtual environment in $(VENV) with modelpack and scikit-learn"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[sklearn]'
	touch $@

install: $(STAMP)

lint: install
	@echo "==> lint: ruff check and ruff format --check"
	$(BIN)/ruff check modelpack tests bench examples
	$(BIN)/ruff format --check modelpack tests bench examples

typecheck: install
	@echo "==> typecheck: mypy"
	$(BIN)/mypy

# Docker's daemon, debootstrap and Chromium for the container and browser tests (apt, only
# when missing).
system-deps:
	@bash .ci/system-deps

unit: install system-deps
	@echo "==> tests: pytest on $(PYTEST_WORKERS) worker(s); the container tests build their base image"
	@echo "    once (about a minute, cached in ~/.cache/modelpack-tests)"
	$(BIN)/pytest -q $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadgroup)

test: lint typecheck unit

demo: $(if $(wildcard $(STAMP)),$(STAMP),$(DEMO_STAMP))
	$(BIN)/python examples/wine-quality/demo.py

bench: install
	$(BIN)/python bench/serve.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis ~/.cache/modelpack-tests
