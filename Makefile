# The README's two commands: `make demo` (set up, train on a built-in corpus, print samples)
# and `make test` (set up, run the test suite). Everything they need is installed here.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_RUN ?= runs/names-demo

.PHONY: setup demo test browser ort-web lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	# The CPU build of PyTorch (a local wheel on our machines); a torch already present is kept,
	# so GPU users can install their CUDA build first.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[dev]'
	touch $@

demo: setup
	rm -rf $(DEMO_RUN)
	# A small net at a low learning rate: the names list (~32k training characters) overfits
	# after ~1,000 steps, so early stopping (--patience) ends the run near its best and the demo
	# ends on its samples. A step budget, not a time one, so a busy machine gives the same names
	# (about a minute on 2 quiet cores).
	$(BIN)/charwise train --corpus names --out $(DEMO_RUN) --max-steps 2000 --hidden 128 \
		--dropout 0.3 --lr 1e-3 --batch-size 32 --seq-len 64 --eval-every 100 --sample-every 200 \
		--patience 3
	@echo "--- 20 new names (not in the training list), temperature 0.8 ---"
	$(BIN)/charwise sample $(DEMO_RUN) --novel --length 600 --temperature 0.8 --seed 7 | head -20

# Debian's Chromium for the browser tests (Playwright cannot download its own browser here).
# In CI (CI=true) a browser that could not be installed fails here, as the tests would; locally
# the browser tests skip and say so.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) \
		|| true
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$CI" = true ]; then \
			echo "make: could not install chromium, and CI=true needs it for the browser tests" >&2; \
			exit 1; \
		fi; \
		echo "make: could not install chromium (not root?); the browser tests will skip" >&2; }

# onnxruntime-web's WebAssembly build for `charwise export --format web`, from npm, copied into
# the package (src/charwise/export/web_assets/ort/, not in git; a wheel built afterwards carries
# it). Exports and the exported pages never fetch it from the network.
ORT_WEB_VERSION := $(shell sed -n 's/^VERSION = "\(.*\)".*/\1/p' src/charwise/export/ortweb.py)
ORT_WEB_STAMP := src/charwise/export/web_assets/ort/.version-$(ORT_WEB_VERSION)

ort-web: $(ORT_WEB_STAMP)

$(ORT_WEB_STAMP): src/charwise/export/ortweb.py | setup
	@command -v npm >/dev/null 2>&1 || { echo "make: npm is missing: web exports and their tests need onnxruntime-web (apt-get install npm)"; exit 0; }; \
	npm install --no-save --no-audit --no-fund --ignore-scripts --prefix build/npm onnxruntime-web@$(ORT_WEB_VERSION) && \
	$(BIN)/python -c "from charwise.export.ortweb import vendor; vendor('build/npm/node_modules/onnxruntime-web')" && \
	rm -f src/charwise/export/web_assets/ort/.version-* && touch $@

test: setup browser ort-web
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) runs build dist *.egg-info src/charwise/export/web_assets/ort
