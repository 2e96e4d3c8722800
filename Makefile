# The README's two commands: `make demo` (set up, train on a built-in corpus, print samples)
# and `make test` (set up, run the test suite). Everything they need is installed here.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_RUN ?= runs/names-demo

.PHONY: setup demo test browser lint bench clean

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
	# A small net at a low learning rate: the names list (~31k training characters) is seen
	# ~130 times in 2 minutes, and larger or faster settings overfit it within the first 30 s.
	$(BIN)/charwise train --corpus names --out $(DEMO_RUN) --max-time 120 --hidden 128 \
		--dropout 0.3 --lr 1e-3 --batch-size 32 --seq-len 64 --eval-every 100 --sample-every 200
	@echo "--- 20 new names (not in the training list), temperature 0.8 ---"
	$(BIN)/charwise sample $(DEMO_RUN) --novel --length 600 --temperature 0.8 --seed 7 | head -20

# Debian's Chromium for the browser tests (Playwright cannot download its own browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || ( (apt-get update -qq && apt-get install -y -qq chromium) \
		|| echo "make: could not install chromium (not root?); browser tests will skip locally" )

test: setup browser
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) runs build *.egg-info
