# avbook: `make book` builds the HTML book, `make test` runs the tests and every chapter at smoke scale.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := lock/requirements.txt
UV_VERSION := 0.13.9
UV     := $(VENV)/uv/bin/uv
CHAPTERS := world mil psp lvs dsol
CHAPTER ?= $(CHAPTERS)

.PHONY: book test reproduce clean venv lock gpu-check student

venv: $(STAMP)

# uv (pinned) lives in .venv/uv, outside the venv's site-packages, so that `uv pip sync` installs the
# lock exactly without removing uv itself. The lock is installed exactly (hashes checked); avlib goes on
# top, editable, without dependencies, built with the locked setuptools (lock/build.txt).
$(UV):
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --target $(VENV)/uv 'uv==$(UV_VERSION)'

$(STAMP): pyproject.toml $(LOCK) lock/build.txt | $(UV)
	$(UV) pip sync --quiet --python $(BIN)/python --require-hashes $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --build-constraints lock/build.txt -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (avbook)" >/dev/null
	touch $(STAMP)

# Re-resolve the lock from pyproject's ranges: `make lock` keeps every pin that still satisfies them,
# `make lock UPGRADE=1` moves every package to the newest allowed version. Then `make venv` and
# re-execute the chapters (`make reproduce`): provenance records the lock's hash (CONTRIBUTING.md).
# One version per package for every Python >= 3.11 and platform (--universal --fork-strategy fewest);
# tinysoundfont's pyaudio is overridden away in pyproject's [tool.uv].
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra book --extra test --universal --fork-strategy fewest \
	  --python-version 3.11 --generate-hashes --custom-compile-command "make lock" \
	  $(if $(UPGRADE),--upgrade) --quiet -o $(LOCK)
	printf 'setuptools>=68\nwheel\n' | $(UV) pip compile - --universal --python-version 3.11 \
	  --generate-hashes --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade) --quiet -o lock/build.txt

book: $(STAMP)
	$(BIN)/jupyter-book build . --warningiserror --keep-going --quiet
	$(BIN)/python scripts/source_bundle.py _build/html/avbook-source.zip
	@echo "book: open _build/html/index.html (source bundle: _build/html/avbook-source.zip)"

test: $(STAMP)
	AVLIB_SCALE=smoke $(BIN)/python -m pytest tests book --nbval-lax -q -p no:cacheprovider \
	  --durations=10; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$status

# The scale comes from AVLIB_SCALE, not `-p scale book`: papermill would save its injected
# parameters cell in the committed notebook, and nbval (make test) would then run the
# chapter at book scale instead of smoke. scripts/strip_progress.py keeps progress-bar
# fragments out of the committed notebooks; the claims dashboard (book/scorecard) and the course page
# (book/course, which reads the chapters' provenance) are re-executed last.
reproduce: $(STAMP)
	@for c in $(CHAPTER) scorecard course; do \
	  echo "== re-executing book/$$c.ipynb at book scale"; \
	  AVLIB_SCALE=book $(BIN)/papermill book/$$c.ipynb book/$$c.ipynb --cwd book -k python3 || exit 1; \
	  $(BIN)/python scripts/strip_progress.py book/$$c.ipynb; \
	done
	$(MAKE) book

# Student copies of the chapters: solution cells become `# Your solution for exercise N` stubs, answers removed,
# outputs cleared (scripts/student.py) → _build/student/<chapter>.ipynb
student: $(STAMP)
	$(BIN)/python scripts/student.py _build/student

# Every chapter at smoke scale on CUDA, a paper-scale PSP model and world render timed → results/gpu-check.json
# (docs: benchmarks/gpu_check.py). Without CUDA it says so and exits 0. No venv is created: on the GPU image
# (no network) it runs with python3 and the wheels on PYTHONPATH (shared/GPU.md).
GPU_PYTHON := $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))
gpu-check:
	$(GPU_PYTHON) benchmarks/gpu_check.py $(GPU_CHECK_ARGS)

clean:
	rm -rf _build
