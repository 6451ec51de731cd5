# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= .demo-clinic
# demo-only credentials, printed by `make run`; a real clinic chooses its own
DEMO_ADMIN_PASSWORD ?= demo-admin-2026
DEMO_PASSPHRASE ?= demo recovery passphrase

.PHONY: run test lint screenshots bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(DEMO_DIR)/clinic.db: | $(VENV)/.installed
	CHAIRSIDE_ADMIN_PASSWORD='$(DEMO_ADMIN_PASSWORD)' CHAIRSIDE_RECOVERY_PASSPHRASE='$(DEMO_PASSPHRASE)' \
		$(PY) -m app init --data-dir $(DEMO_DIR) --clinic-name "Riverside Dental (demo)" --demo --patients 2000

run: $(VENV)/.installed $(DEMO_DIR)/clinic.db
	@echo "Demo clinic in $(DEMO_DIR): sign in as 'admin' / '$(DEMO_ADMIN_PASSWORD)'"
	@echo "(other demo staff: dr.patel, hyg.jones, reception.lee with the same password)"
	@echo "If asked for the recovery passphrase: '$(DEMO_PASSPHRASE)'"
	$(PY) -m app --data-dir $(DEMO_DIR)

test: $(VENV)/.installed
	$(VENV)/bin/ruff check app sync tests
	QT_QPA_PLATFORM=offscreen:configfile=tests/offscreen-screen.json $(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check app sync tests
	$(VENV)/bin/mypy

screenshots: $(VENV)/.installed
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) -m app.ui.screenshots docs/screenshots

bench: $(VENV)/.installed
	$(PY) -m app bench --data-dir $(or $(BENCH_DIR),.bench-clinic)

clean:
	rm -rf $(VENV) $(DEMO_DIR) .bench-clinic
