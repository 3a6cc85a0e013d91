# Two commands on a fresh machine: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1

.PHONY: run test lint install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job on the embedded phantom data: a cohort of every modality, split by patient,
# and sample grids of each modality to look at.
run: $(STAMP)
	$(BIN)/synthbench data make 'phantom:all?n=600&size=64' --out $(OUT)/phantoms
	$(BIN)/synthbench data show $(OUT)/phantoms --out $(OUT)/grids/all_modalities.png
	for m in oct fundus cxr chest_ct brain_mri breast_mri; do \
	  $(BIN)/synthbench data show "phantom:$$m?n=200&size=128" --out $(OUT)/grids/$$m.png > /dev/null || exit 1; \
	  echo "wrote $(OUT)/grids/$$m.png"; \
	done

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
