# vpn-doctor: every entry point. `make demo` and `make test` set everything up on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-deps
CDK := node_modules/.bin/cdk
# The Lambda functions run on python3.13: their tests run there too, where this machine has it
# (on the PATH, or installed by pyenv without being the active version).
LAMBDA_PYTHON ?= $(shell for c in python3.13 "$$(pyenv root 2>/dev/null)/versions/$$(pyenv latest 3.13 2>/dev/null)/bin/python3.13"; \
  do "$$c" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1 && { command -v "$$c"; break; }; done)
LAMBDA_VENV := .venv-lambda
LAMBDA_STAMP := $(LAMBDA_VENV)/.stamp-deps
# The lab's downloaded daemons (libreswan, extracted from its Debian package).
LAB_DIR := .lab
LIBRESWAN := $(LAB_DIR)/libreswan/usr/libexec/ipsec/pluto
# rsyslog, the syslog daemon the lab ships the customer gateway's log through (extracted, not installed).
RSYSLOGD := $(LAB_DIR)/rsyslog/usr/sbin/rsyslogd

.DEFAULT_GOAL := help
.PHONY: help setup demo test unit integration infra lab lab-matrix runtime lint typecheck format synth bench clean lab-deps cdk-deps browser-deps

help:
	@echo "make demo   - set up, then run the whole pipeline locally (no AWS account needed)"
	@echo "make test   - set up, then run every check: ruff, mypy, unit, integration, CDK, lab;"
	@echo "              then unit and integration again on python3.13 (the Lambda runtime) if present"
	@echo "make lab-matrix - the whole customer-gateway lab matrix (root; a few minutes)"
	@echo "make synth  - cdk synth (needs AWS credentials only for deploy, not for synth)"
	@echo "make bench  - reproducible benchmarks (bench/)"

$(STAMP): requirements.txt requirements-dev.txt functions/requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "vpn-doctor needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

setup: $(STAMP)

$(CDK): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

cdk-deps: $(CDK)

# The customer-gateway lab needs strongSwan (and libreswan, below); installed only where we are root
# with apt-get.
lab-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  dpkg -s strongswan-swanctl charon-systemd libcharon-extra-plugins nftables iproute2 >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      strongswan-swanctl charon-systemd libcharon-extra-plugins nftables iproute2 >/dev/null; }; \
	  $(MAKE) --no-print-directory $(LIBRESWAN) $(RSYSLOGD); \
	else echo "lab: not root or no apt-get here; the lab tests will be skipped"; fi

# The report's HTML is checked in a real headless Chromium (Debian's package, driven by Playwright: Playwright's
# own browser download is not reachable from CI). Installed only where we are root with apt-get; elsewhere the
# browser tests are skipped.
browser-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  dpkg -s chromium >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      chromium >/dev/null; }; \
	else echo "browser: not root or no apt-get here; the report's browser tests will be skipped"; fi

# libreswan's pluto as a second customer gateway. Its package conflicts with strongSwan's, so it is
# not installed: the .deb is only extracted here (nothing outside this directory changes) and
# apt installs the three small libraries pluto and certutil need.
$(LIBRESWAN):
	@dpkg -s libldns3 libevent-pthreads-2.1-7 libnss3-tools >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      libldns3 libevent-pthreads-2.1-7 libnss3-tools >/dev/null; }
	@rm -rf $(LAB_DIR)/libreswan-deb $(LAB_DIR)/libreswan.tmp && mkdir -p $(LAB_DIR)/libreswan-deb
	cd $(LAB_DIR)/libreswan-deb && { apt-get download -qq libreswan 2>/dev/null || \
	  { apt-get update -qq && apt-get download -qq libreswan 2>/dev/null; }; }
	dpkg -x $(LAB_DIR)/libreswan-deb/libreswan_*.deb $(LAB_DIR)/libreswan.tmp
	@rm -rf $(LAB_DIR)/libreswan-deb $(LAB_DIR)/libreswan && mv $(LAB_DIR)/libreswan.tmp $(LAB_DIR)/libreswan

# rsyslogd 8.2302 and its two libraries (libestr0, libfastjson4), extracted from Debian's packages into
# .lab/rsyslog: the lab runs it with LD_LIBRARY_PATH and -M, as a user would run a shipper; nothing is installed.
$(RSYSLOGD):
	@rm -rf $(LAB_DIR)/rsyslog-deb $(LAB_DIR)/rsyslog.tmp && mkdir -p $(LAB_DIR)/rsyslog-deb
	cd $(LAB_DIR)/rsyslog-deb && { apt-get download -qq rsyslog libestr0 libfastjson4 2>/dev/null || \
	  { apt-get update -qq && apt-get download -qq rsyslog libestr0 libfastjson4 2>/dev/null; }; }
	for deb in $(LAB_DIR)/rsyslog-deb/*.deb; do dpkg -x "$$deb" $(LAB_DIR)/rsyslog.tmp; done
	@rm -rf $(LAB_DIR)/rsyslog-deb $(LAB_DIR)/rsyslog && mv $(LAB_DIR)/rsyslog.tmp $(LAB_DIR)/rsyslog

demo: $(STAMP)
	$(BIN)/vpn-doctor demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

integration: $(STAMP) browser-deps
	$(BIN)/pytest tests/integration -q

infra: $(STAMP) $(CDK)
	$(BIN)/pytest tests/infra -q

lab: $(STAMP) lab-deps
	$(BIN)/pytest tests/lab -q

# The whole lab matrix: every scenario in IKEv1 and IKEv2, strongSwan and libreswan, shipped through
# journald and rsyslog, at log levels 0, 1 and 2 (a few minutes; `make test` runs a subset).
lab-matrix: $(STAMP) lab-deps
	$(BIN)/pytest tests/lab -q -m "lab or lab_matrix" -k shipped_through_journald_and_rsyslog

$(LAMBDA_STAMP): requirements.txt requirements-dev.txt functions/requirements.txt pyproject.toml
	@test -x $(LAMBDA_VENV)/bin/python || $(LAMBDA_PYTHON) -m venv $(LAMBDA_VENV)
	$(LAMBDA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(LAMBDA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# The functions' tests (unit, integration) on the Lambda runtime's Python; skipped where it is missing.
# The functions' tests again on python3.13, less the `slow` ones (the whole demo, run three times, and the report in
# Chromium): those drive the CLI and the browser, not a function's code path that the other tests leave out.
runtime:
	@if [ -n "$(LAMBDA_PYTHON)" ]; then \
	  $(MAKE) --no-print-directory $(LAMBDA_STAMP) && $(LAMBDA_VENV)/bin/pytest tests/unit tests/integration -q -m 'not slow and not lab_matrix'; \
	else echo "runtime: no python3.13 on this machine; the functions' tests ran on $$($(PYTHON) --version) only"; fi

test: $(STAMP) $(CDK) lab-deps browser-deps lint typecheck
	$(BIN)/pytest -q
	@$(MAKE) --no-print-directory runtime

# --no-notices: the notices lookup needs the internet; synth itself only needs PyPI (the dependencies layer).
synth: $(STAMP) $(CDK)
	PATH="$(abspath $(BIN)):$$PATH" $(CDK) synth --quiet --no-notices

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(LAB_DIR) $(VENV) $(LAMBDA_VENV) node_modules cdk.out .mypy_cache .ruff_cache .pytest_cache .hypothesis
