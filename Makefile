# The two entry points of the README: `make demo` and `make test`.
# Everything lands in .venv/ (Python packages, pinned by constraints.txt);
# system packages come from scripts/system-deps.sh.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA := data/speech

.PHONY: demo test setup system-deps

setup: system-deps $(VENV)/.installed

system-deps:
	@scripts/system-deps.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

$(DATA)/Libri2Mix: | setup
	$(BIN)/separation data speech $(DATA)

demo: setup $(DATA)/Libri2Mix
	$(BIN)/separation grid experiments/quick.yaml
	$(BIN)/separation report runs/quick --spec experiments/quick.yaml -o runs/quick/report

test: setup
	$(BIN)/python -m pytest -q
