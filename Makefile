# Bureau — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck pytest install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml agent_image/pyproject.toml
	$(BIN)/pip install -q -e ./agent_image -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the control plane on its embedded defaults (SQLite + CA under ./.bureau, HTTPS 127.0.0.1:8443, qemu driver).
run: $(STAMP)
	BUREAU_DATA_DIR=$${BUREAU_DATA_DIR:-$(CURDIR)/.bureau} $(BIN)/bureau serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy orchestrator cloud_init infra agent_image/bureau_agent tests bench

# Two workers: the VM tests (one xdist group, one worker) run beside the rest.
PYTEST_WORKERS ?= 2

# pytest exits 5 when it collected no test: that is a failure here, never a silent pass.
pytest: $(STAMP)
	@$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup --durations=25 $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

## Set up and pass the tests: ruff, mypy, pytest.
test: lint typecheck pytest

clean:
	rm -rf $(VENV) build *.egg-info agent_image/build agent_image/*.egg-info
