# Two commands on a fresh machine: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1

.PHONY: run test lint install browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job on the embedded phantom data: a grid of every phantom modality to look at, then the
# quick suite (benchmarks/quick.toml) with the shipped checkpoints: generators against real only
# on OCT classification under both protocols, report generation, SSL, EGFR survival on chest CT,
# image quality with its real-vs-real floor; three seeds each. It prints the leaderboard and
# writes results/quick/ (rows, manifest, leaderboard, HTML report). Finished cells are cached in
# $(OUT)/cells, so a second run only re-reads them.
run: $(STAMP)
	$(BIN)/synthbench data show 'phantom:all?n=600&size=64' --out $(OUT)/grids/all_modalities.png
	$(BIN)/synthbench run benchmarks/quick.toml --out results/quick --cache $(OUT)/cells
	$(BIN)/synthbench leaderboard results/quick --format md --into README.md

# The HTML report test drives Debian's chromium (headless) through Playwright.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
