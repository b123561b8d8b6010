# The two commands of this repo:
#   make plan   - the main job: the offline plan of every stack file (Pulumi.<stack>.yaml) here
#   make test   - the tests
# Both create .venv (the virtualenv Pulumi.yaml names too) from the pinned requirements first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACKS ?= $(wildcard Pulumi.*.yaml)

.PHONY: plan test bench

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

plan: $(VENV)/.installed
	@for stack in $(STACKS); do $(BIN)/python scripts/plan.py "$$stack" || exit $$?; echo; done

test: $(VENV)/.installed
	$(BIN)/python -m pytest

# Benchmarks against peers (root; takes minutes; results in bench/results/, summary in BENCHMARKS.md).
bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	cd bench && ../$(BIN)/python host_prep.py && ../$(BIN)/python archival.py && \
	  ../$(BIN)/python backup_run.py && ../$(BIN)/python fleet_planning.py
