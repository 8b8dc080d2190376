# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv on first use and reuse it while pyproject.toml is unchanged.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint format clean notebooks bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/omnitwin demo

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

# Run the researcher notebooks at their full settings; executed copies (with outputs)
# go to results/notebooks/, notebooks/ stays without outputs.
notebooks: $(STAMP)
	mkdir -p results/notebooks
	$(VENV)/bin/jupyter execute --timeout=-1 --output='../results/notebooks/{notebook_name}' notebooks/*.ipynb

# Benchmarks (issue 8): prints each table as it finishes and writes results/bench.md
# (+ results/bench_growth.png). Figures, not pass/fail: see bench/README.md.
bench: $(STAMP)
	$(PY) -m pip install -q -e '.[dev,bench]'
	$(PY) -m bench.run

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache *.egg-info
