# Every target that needs Python builds the virtualenv first, and `make demo` and
# `make test` install the Debian packages they need (deps/install, from the one list
# deps/debian-packages), so a fresh clone needs nothing but git, make and python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_HOME := $(CURDIR)/.demo-home

.PHONY: venv demo demo-gui test test-quick test-window lint screenshots bench bench-quick rpm man docs clean box-deps test-py313 deps-demo deps-test

# The Debian packages of deps/debian-packages: "demo" what the demo runs (and the
# virtualenv needs: python3-venv), "test" everything.  Silent when all are there; as
# root or through sudo it installs what is missing, else it prints the command to run.
deps-demo:
	@deps/install demo
deps-test:
	@deps/install test

venv: $(STAMP)

$(STAMP): setup.py requirements-dev.txt | deps-demo
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

# The same in the updater's window (needs a display: X11 or Wayland).  Choose
# Start updates; when it asks for a restart, Restart now restarts the
# simulated dom0 and the icon is "clicked" again, which starts the app.
demo-gui: venv
	@if [ -z "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
	  echo "make demo-gui needs a display (DISPLAY or WAYLAND_DISPLAY); try make demo"; exit 1; fi
	rm -rf $(DEMO_HOME)
	HOME=$(DEMO_HOME) $(BIN)/sdw-updater --skip-delta 0 --simulate scenarios/demo.toml; \
	  rc=$$?; \
	  if [ $$rc -eq 3 ]; then \
	    echo "== exit 3: restart required; the icon is clicked again =="; \
	    HOME=$(DEMO_HOME) $(BIN)/sdw-updater --simulate scenarios/demo.toml; rc=$$?; \
	  fi; \
	  echo "sdw-updater exited $$rc; logs: $(DEMO_HOME)/.securedrop_updater/logs/"; exit $$rc

# The box tier (tests/box, docs/simulator.md "The box") runs the real Qubes client
# tools from the archives pinned in tests/box/qubes-archives (public source and
# sha256).  tests/box/archives.py looks for them in QUBES_VENDOR=DIR, then in
# ../shared/vendor (where this project's machines keep them), then makes them from
# their public repositories when the network allows; it verifies each sha256 before
# use (a mismatch stops make) and keeps the verified copies in .box/archives.  Each
# version is installed as it is into .box/<version>.  Without the archives this says
# so in one line and installs nothing: the tier then skips (under CI it fails).
QUBES_VENDOR ?=
QUBES_ARCHIVE_DIRS := $(QUBES_VENDOR) $(abspath $(CURDIR)/../shared/vendor)
BOX_DIR := .box
BOX_ARCHIVES := $(BOX_DIR)/archives
# qubes-core-admin-client version:qubes-core-admin-linux version
BOX_PAIRS := 4.2.18:4.2.37 4.3.34:4.3.21 4.4.0:4.4.1
BOX_STAMPS := $(foreach pair,$(BOX_PAIRS),$(BOX_DIR)/$(firstword $(subst :, ,$(pair)))/.installed)

box-deps: venv
	@$(BIN)/python tests/box/archives.py --into $(BOX_ARCHIVES) --download \
	    $(foreach dir,$(QUBES_ARCHIVE_DIRS),--from $(dir)); \
	  rc=$$?; if [ $$rc -eq 3 ]; then exit 0; elif [ $$rc -ne 0 ]; then exit $$rc; fi; \
	  $(MAKE) --no-print-directory --silent $(BOX_STAMPS)

$(BOX_DIR)/%/.installed: requirements-box.txt tests/box/qubes-archives
	@pair=$$(echo "$(BOX_PAIRS)" | tr ' ' '\n' | grep "^$*:"); linux=$${pair#*:}; \
	  echo "box: installing qubes-core-admin-client $* and qubes-core-admin-linux $$linux"; \
	  rm -rf $(BOX_DIR)/$* && \
	  $(BIN)/pip install --quiet --no-deps --target $(BOX_DIR)/$* \
	    $(BOX_ARCHIVES)/qubes-core-admin-client-$*.tar.gz \
	    $(BOX_ARCHIVES)/qubes-core-admin-linux-$$linux.tar.gz -r requirements-box.txt && \
	  touch $@

# The main flows of the window also run on PyQt5 (tests/window, marked with
# both_bindings): the programs installed in a virtualenv of their own with PyPI's
# PyQt5 and no PyQt6, as on a dom0 that only has python3-qt5.
QT5_VENV := .venv-qt5
QT5_STAMP := $(QT5_VENV)/.installed
$(QT5_STAMP): setup.py | deps-demo
	rm -rf $(QT5_VENV)
	$(PYTHON) -m venv $(QT5_VENV)
	$(QT5_VENV)/bin/pip install --quiet --upgrade pip
	$(QT5_VENV)/bin/pip install --quiet -e ".[gui-qt5]"
	$(QT5_VENV)/bin/python -c 'from launcher import qt; assert qt.BINDING == "PyQt5", qt.BINDING'
	touch $@

# The screen-reader tier (tests/window/test_screen_reader.py) runs the installed
# programs on the distribution's PyQt and Qt, as dom0 does (Fedora's python3-pyqt6,
# python3-qt5 on older releases): the Qt in PyPI's wheels is not what dom0 runs, and
# PyQt5's has no AT-SPI bridge.  .venv-a11y sees Debian's PyQt6 and PyQt5 and so runs
# on PyQt6; .venv-a11y-qt5 runs on PyQt5 because a stand-in package PyQt6 in its own
# site-packages (found before the distribution's) fails to import: a test-only blocker,
# not a product setting.  deps/install test installs those packages; without them the
# tier's tests fail naming them.
SYSTEM_PYTHON ?= /usr/bin/python3
A11Y_VENV := .venv-a11y
A11Y_STAMP := $(A11Y_VENV)/.installed
A11Y_QT5_VENV := .venv-a11y-qt5
A11Y_QT5_STAMP := $(A11Y_QT5_VENV)/.installed
A11Y_APT := python3-pyqt6 python3-pyqt5 python3-dbus python3-venv at-spi2-core dbus-daemon
BLOCK_PYQT6 := raise ImportError("PyQt6 is blocked in this test virtualenv: its programs run on PyQt5")
$(A11Y_VENV)/.installed $(A11Y_QT5_VENV)/.installed: setup.py requirements-dev.txt | deps-test
	@venv=$(@D); rm -rf $$venv; \
	if $(SYSTEM_PYTHON) -c 'import PyQt6.QtWidgets, PyQt5.QtWidgets, dbus' 2>/dev/null && \
	  $(SYSTEM_PYTHON) -m venv --system-site-packages $$venv >/dev/null 2>&1; then \
	  $$venv/bin/pip install --quiet "$$(grep '^python-gnupg' requirements-dev.txt)" && \
	  $$venv/bin/pip install --quiet --no-deps -e . || exit 1; \
	  want=PyQt6; \
	  if [ $$venv = $(A11Y_QT5_VENV) ]; then \
	    want=PyQt5; \
	    site=$$($$venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	    mkdir -p $$site/PyQt6 && echo '$(BLOCK_PYQT6)' > $$site/PyQt6/__init__.py; \
	  fi; \
	  $$venv/bin/python -c "from launcher import qt; assert qt.BINDING == '$$want', qt.BINDING" && \
	  echo "screen-reader tier: $$venv on $(SYSTEM_PYTHON) and its $$want" && touch $@; \
	else \
	  rm -rf $$venv; \
	  echo "screen-reader tier not built: $(SYSTEM_PYTHON) lacks PyQt6, PyQt5, dbus or venv" \
	    "(Debian packages $(A11Y_APT): deps/install test)"; \
	fi

QT_VENVS := $(QT5_STAMP) $(A11Y_STAMP) $(A11Y_QT5_STAMP)

test: deps-test venv box-deps $(QT_VENVS)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

# The same suite under Python 3.13 (Qubes 4.3's dom0; `make test` uses 3.11, Qubes 4.2's),
# in a virtualenv of its own.  PYTHON313 names the interpreter.
PYTHON313 ?= python3.13
VENV313 := .venv313
$(VENV313)/.installed: setup.py requirements-dev.txt
	$(PYTHON313) -m venv $(VENV313)
	$(VENV313)/bin/pip install --quiet --upgrade pip
	$(VENV313)/bin/pip install --quiet -r requirements-dev.txt
	$(VENV313)/bin/pip install --quiet -e .
	touch $@

test-py313: deps-test $(VENV313)/.installed box-deps $(QT_VENVS)
	QT_QPA_PLATFORM=offscreen $(VENV313)/bin/python -m pytest -q -p no:cacheprovider

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy tests      # runs of their own: tests/ is not a package (tests/box/ is), and
	$(BIN)/mypy benchmarks # benchmarks/ imports the box harness as tests.box

# Every screen, from a real X server (Xvfb), at 1366x768 and at scale 2 on 1920x1080.
screenshots: deps-test venv
	$(BIN)/python tests/window/screenshots.py docs/screenshots

# Only the window tier: the installed programs on Xvfb, driven with xdotool.
test-window: deps-test venv $(QT_VENVS)
	$(BIN)/python -m pytest -q -m window

# The fast-path figure runs in the box (real qubesadmin): the pinned archives, when present.
# first_paint launches the window on PyQt6 and on PyQt5 (the versions of .venv and .venv-qt5).
bench: deps-test venv box-deps $(QT5_STAMP)
	$(BIN)/python -m benchmarks.run --full

bench-quick: deps-test venv box-deps $(QT5_STAMP)
	$(BIN)/python -m benchmarks.run --quick

rpm: deps-test
	bash rpm/build.sh

# The manual pages of sdw-updater, sdw-notify and sdw-login, from their
# argument parsers (launcher/manpage.py; standard library only, no venv).
MAN_DIR ?= build/man
man:
	$(PYTHON) -m launcher.manpage --output $(MAN_DIR)

clean:
	rm -rf $(VENV) $(VENV313) $(QT5_VENV) $(A11Y_VENV) $(A11Y_QT5_VENV) $(DEMO_HOME) $(BOX_DIR) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

# Documents written from the tests' own tables (the fault matrix): run the cells, write them.
docs: venv
	SDW_WRITE_DOCS=1 QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -p no:cacheprovider tests/e2e/test_fault_matrix.py -k "not document_is_current"
