# The two commands of this repo:
#   make plan   - the main job: the offline plan of every stack file (Pulumi.<stack>.yaml) here
#   make test   - the tests
# Both create .venv (the virtualenv Pulumi.yaml names too) from the pinned requirements first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACKS ?= $(wildcard Pulumi.*.yaml)

.PHONY: plan test bench bench-scale

# `make plan` needs only the runtime; the tests add their own tools.
$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Every stack is planned and reported (its plan, or its config problems with their paths); the exit
# code is the worst of them, after all.
plan: $(VENV)/.runtime
	@$(BIN)/python scripts/plan.py $(STACKS)

test: $(VENV)/.installed
	$(BIN)/python -m ruff check --quiet .
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -n 4

# Benchmarks against peers (root; takes minutes; results in bench/results/, summary in BENCHMARKS.md).
bench: $(VENV)/.installed
	command -v parted >/dev/null && command -v rsync >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq parted rsync; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	cd bench && ../$(BIN)/python host_prep.py && ../$(BIN)/python archival.py && \
	  ../$(BIN)/python backup_run.py && ../$(BIN)/python restore_run.py && ../$(BIN)/python fleet_planning.py

# The scale run (root; about 25 minutes and 55 GB of free disk; BENCHMARKS.md, "An installation at scale").
bench-scale: $(VENV)/.installed
	command -v rsync >/dev/null && test -x /usr/bin/time || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsync time; }
	cd bench && ../$(BIN)/python scale.py --no-drill
