# avbook: `make book` builds the HTML book, `make test` runs the tests and every chapter at smoke scale.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHAPTERS := world mil psp lvs dsol
CHAPTER ?= $(CHAPTERS)

.PHONY: book test reproduce clean venv gpu-check

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[book,test]'
	# tinysoundfont declares pyaudio (live playback only, fails to build): install it without deps
	$(BIN)/python -m pip install --quiet --no-deps 'tinysoundfont==0.3.*'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (avbook)" >/dev/null
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --warningiserror --keep-going --quiet
	@echo "book: open _build/html/index.html"

test: $(STAMP)
	AVLIB_SCALE=smoke $(BIN)/python -m pytest tests book --nbval-lax -q -p no:cacheprovider \
	  --durations=10; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$status

# The scale comes from AVLIB_SCALE, not `-p scale book`: papermill would save its injected
# parameters cell in the committed notebook, and nbval (make test) would then run the
# chapter at book scale instead of smoke. scripts/strip_progress.py keeps progress-bar
# fragments out of the committed notebooks; the claims dashboard (book/scorecard) is re-executed last.
reproduce: $(STAMP)
	@for c in $(CHAPTER) scorecard; do \
	  echo "== re-executing book/$$c.ipynb at book scale"; \
	  AVLIB_SCALE=book $(BIN)/papermill book/$$c.ipynb book/$$c.ipynb --cwd book -k python3 || exit 1; \
	  $(BIN)/python scripts/strip_progress.py book/$$c.ipynb; \
	done
	$(MAKE) book

# Every chapter at smoke scale on CUDA, a paper-scale PSP model and world render timed → results/gpu-check.json
# (docs: benchmarks/gpu_check.py). Without CUDA it says so and exits 0. No venv is created: on the GPU image
# (no network) it runs with python3 and the wheels on PYTHONPATH (shared/GPU.md).
GPU_PYTHON := $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))
gpu-check:
	$(GPU_PYTHON) benchmarks/gpu_check.py $(GPU_CHECK_ARGS)

clean:
	rm -rf _build
