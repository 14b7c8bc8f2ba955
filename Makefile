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

# Two one-thread workers share the study (each claims the next free trial): on two cores that is
# faster than one worker of two threads for these small models. The first worker's status decides.
demo: setup $(DATA)/Libri2Mix
	OMP_NUM_THREADS=1 $(BIN)/separation grid experiments/demo.yaml & first=$$!; \
	OMP_NUM_THREADS=1 $(BIN)/separation grid experiments/demo.yaml; second=$$?; \
	wait $$first && test $$second -eq 0
	$(BIN)/separation report runs/demo --spec experiments/demo.yaml -o runs/demo/report

test: setup
	$(BIN)/python -m pytest -q
