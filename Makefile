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

# The main job on the embedded phantom data: a cohort of every modality, split by patient, with
# sample grids to look at; then a generator trained on one modality, a synthetic cohort sampled
# from it, and its image quality scored against the real images.
DEMO_DATA := phantom:breast_mri?n=600&size=32
run: $(STAMP)
	$(BIN)/synthbench data make 'phantom:all?n=600&size=64' --out $(OUT)/phantoms
	$(BIN)/synthbench data show $(OUT)/phantoms --out $(OUT)/grids/all_modalities.png
	for m in oct fundus cxr chest_ct brain_mri breast_mri; do \
	  $(BIN)/synthbench data show "phantom:$$m?n=200&size=128" --out $(OUT)/grids/$$m.png > /dev/null || exit 1; \
	  echo "wrote $(OUT)/grids/$$m.png"; \
	done
	$(BIN)/synthbench train cvae --data '$(DEMO_DATA)' --profile quick --steps 1500 --no-progress --out $(OUT)/generators/cvae
	$(BIN)/synthbench generate $(OUT)/generators/cvae -n 24 --seed 0 --out $(OUT)/grids/cvae_samples.png
	$(BIN)/synthbench generate $(OUT)/generators/cvae --like '$(DEMO_DATA)' --seed 0 --out $(OUT)/synthetic/cvae
	$(BIN)/synthbench evaluate '$(DEMO_DATA)' $(OUT)/synthetic/cvae --json $(OUT)/quality/cvae.json --out $(OUT)/quality

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
