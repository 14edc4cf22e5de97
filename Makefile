# Every target that needs Python builds the virtualenv first, so a fresh
# clone needs nothing but `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_HOME := $(CURDIR)/.demo-home

.PHONY: venv demo demo-gui test test-quick lint screenshots bench bench-quick rpm clean box-deps

venv: $(STAMP)

$(STAMP): setup.py requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

# The launcher against the simulated workstation: a forced update (about
# 30 s); when it asks for a reboot, the simulated dom0 restarts and the
# icon is "clicked" again, which starts the app.  Exit 0 when all went well.
SIM_BIN := $(DEMO_HOME)/.securedrop_updater/sim/bin
demo: venv
	rm -rf $(DEMO_HOME)
	@echo "== sdw-updater --cli --skip-delta 0 (the simulated workstation has updates) =="
	HOME=$(DEMO_HOME) $(BIN)/sdw-updater --cli --skip-delta 0 --simulate scenarios/demo.toml; \
	  rc=$$?; \
	  if [ $$rc -eq 3 ]; then \
	    echo; echo "== exit 3: reboot required. The simulated dom0 restarts; the icon is clicked again =="; \
	    HOME=$(DEMO_HOME) $(SIM_BIN)/sudo reboot && \
	    HOME=$(DEMO_HOME) $(BIN)/sdw-updater --cli --simulate scenarios/demo.toml; rc=$$?; \
	  fi; \
	  echo "sdw-updater exited $$rc; logs: $(DEMO_HOME)/.securedrop_updater/logs/"; exit $$rc

# The same in the Qt wizard (needs a display).
demo-gui: venv
	rm -rf $(DEMO_HOME)
	HOME=$(DEMO_HOME) $(BIN)/sdw-updater --skip-delta 0 --simulate scenarios/demo.toml

# The box tier (tests/box, docs/simulator.md "The box") runs the real Qubes
# client tools from the pinned archives in $(QUBES_VENDOR); each version is
# installed as it is into .box/<version>.  Without the archives the tier skips.
QUBES_VENDOR ?= $(abspath $(CURDIR)/../shared/vendor)
BOX_DIR := .box
# qubes-core-admin-client version:qubes-core-admin-linux version
BOX_PAIRS := 4.2.18:4.2.37 4.3.34:4.3.21 4.4.0:4.4.1
BOX_STAMPS := $(foreach pair,$(BOX_PAIRS),$(BOX_DIR)/$(firstword $(subst :, ,$(pair)))/.installed)
BOX_DEPS := $(if $(wildcard $(QUBES_VENDOR)),box-deps)

box-deps: venv $(BOX_STAMPS)

$(BOX_DIR)/%/.installed: requirements-box.txt
	@pair=$$(echo "$(BOX_PAIRS)" | tr ' ' '\n' | grep "^$*:"); linux=$${pair#*:}; \
	  echo "box: installing qubes-core-admin-client $* and qubes-core-admin-linux $$linux"; \
	  rm -rf $(BOX_DIR)/$* && \
	  $(BIN)/pip install --quiet --no-deps --target $(BOX_DIR)/$* \
	    $(QUBES_VENDOR)/qubes-core-admin-client-$*.tar.gz \
	    $(QUBES_VENDOR)/qubes-core-admin-linux-$$linux.tar.gz -r requirements-box.txt && \
	  touch $@

test: venv $(BOX_DEPS)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

screenshots: venv
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m launcher.screenshots docs/screenshots

bench: venv
	$(BIN)/python -m benchmarks.run --full

bench-quick: venv
	$(BIN)/python -m benchmarks.run --quick

rpm:
	bash rpm/build.sh

clean:
	rm -rf $(VENV) $(DEMO_HOME) $(BOX_DIR) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
