# Two commands set up a fresh machine: `make demo` (the main job, end to end) and `make test`.
# Both create .venv on first use; nothing is installed outside it.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench samples constraints clean e2e

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "vodflow needs Python 3.11 or newer")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/vodflow demo

test: $(STAMP) lint
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Browser tests: Debian's Chromium (apt, only if missing) and the players from npm (e2e/package-lock.json;
# playwright-core drives the system Chromium, no browser is downloaded). See README "Browser tests".
CHROMIUM := /usr/bin/chromium
E2E_NPM  := e2e/node_modules/.installed

$(CHROMIUM):
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

$(E2E_NPM): e2e/package.json e2e/package-lock.json
	cd e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	@touch $@

e2e: $(STAMP) $(CHROMIUM) $(E2E_NPM)
	$(PY) -m pytest e2e/tests

bench: $(STAMP)
	$(PY) -m bench.encode

samples: $(STAMP)
	$(VENV)/bin/vodflow samples

# Re-pin constraints.txt from the current .venv (after changing dependencies in pyproject.toml).
constraints: $(STAMP)
	{ sed -n '1,2p' constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -v '^vodflow'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache *.egg-info
