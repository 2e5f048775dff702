# One entry point per task; CI runs `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install system-deps test lint typecheck unit demo bench clean

# torch==2.13.0 first: pip takes the local CPU wheel, and nothing after may pull another torch.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[all,test]'
	@$(BIN)/python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	touch $@

install: $(STAMP)

lint: install
	$(BIN)/ruff check modelpack tests bench examples
	$(BIN)/ruff format --check modelpack tests bench examples

typecheck: install
	$(BIN)/mypy

# Docker's daemon and debootstrap for the container tests (apt, only when missing).
system-deps:
	@bash .ci/system-deps

unit: install system-deps
	$(BIN)/pytest -q

test: lint typecheck unit

demo: install
	$(BIN)/python examples/wine-quality/demo.py

bench: install
	$(BIN)/python bench/serve.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
