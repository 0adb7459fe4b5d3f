# minirl — every target creates .venv from requirements.txt first if needed.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: setup demo test test-1thread test-portable test-long mutants check-commands grade grade-train-check lab notebooks bench numbers gpu-check clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip -q
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	$(BIN)/python -m pip install -e . -q
	touch $(STAMP)

demo: setup        ## the main job: SFT -> RL on 2-digit addition (runs/demo/)
	$(BIN)/python -m minirl demo --out runs/demo

test: setup        ## the whole test suite, notebooks (smoke mode) and graders included (2 processes, 1 thread each)
	$(BIN)/python -m pytest -q -n 2

test-1thread: setup  ## the same suite with one CPU thread (it must pass with 1 and with 2)
	MINIRL_TEST_THREADS=1 $(BIN)/python -m pytest -q

test-portable: setup  ## the learning, mechanism, standalone and grading tests under every CPU capability (kernel set)
	@caps="default avx2"; grep -qw avx512f /proc/cpuinfo 2>/dev/null && caps="$$caps avx512"; \
	for cap in $$caps; do echo "== ATEN_CPU_CAPABILITY=$$cap"; \
	  ATEN_CPU_CAPABILITY=$$cap $(BIN)/python -m pytest -q -n 2 -m "learning and not long" || exit 1; done

test-long: setup   ## only the full-size learning tests that `make test` leaves out (several minutes each)
	$(BIN)/python -m pytest -q -m long --ignore tests/test_readme_commands.py

mutants: setup     ## the mutation check: realistic bugs planted in minirl/, one at a time; all must be caught
	$(BIN)/python tests/mutants.py

check-commands: setup  ## every training command the README prints, at full size, beats its start (about 20 minutes on 2 cores)
	$(BIN)/python -m pytest -q -m long tests/test_readme_commands.py

grade: setup       ## grade your exercises/ (CH=2 for one chapter; TRAIN=1: the end-to-end track, a training run each)
	$(BIN)/python -m minirl.grade $(CH) $(if $(TRAIN),--train)

grade-train-check: setup  ## the end-to-end track at full size: passes with minirl's functions, fails with planted bugs
	$(BIN)/python -m pytest -q -m long tests/test_grade_train.py

lab: setup         ## open the notebooks in JupyterLab (installed into .venv on first use)
	$(BIN)/python -c "import jupyterlab" 2>/dev/null || $(BIN)/python -m pip install -q "jupyterlab>=4"
	$(BIN)/jupyter lab notebooks/

notebooks: setup   ## re-execute every notebook at full size and save its outputs
	$(BIN)/python -m minirl.notebooks

numbers: setup     ## rewrite the measured numbers in README and chapters from results/ (benchmarks/render_numbers.py)
	$(BIN)/python benchmarks/render_numbers.py

bench: setup       ## throughput benchmarks
	$(BIN)/python benchmarks/throughput.py

gpu-check: setup   ## on a CUDA GPU (<= 15 min): environment, presets, throughput, compile, torchrun -> results/gpu/
	$(BIN)/python -m benchmarks.gpu_presets --check --out runs/gpu_check --results results/gpu

clean:
	rm -rf runs .pytest_cache

# --- the book as a static website (book/; the "book" extra of pyproject.toml, installed on first use) ---
.PHONY: book serve-book book-check
BOOK_PORT ?= 8000
BOOK_DEPS := $(BIN)/python -c "import mkdocs, material, mkdocs_jupyter, selenium" 2>/dev/null || $(BIN)/python -m pip install -q -e ".[book]"

book: setup        ## the book as a website in site/: chapters, lab appendices, notebooks (saved outputs), exercises
	@$(BOOK_DEPS)
	$(BIN)/python book/build.py

serve-book: book   ## build the book, then serve site/ at http://127.0.0.1:$(BOOK_PORT)/ (Ctrl-C stops)
	@echo "the book: http://127.0.0.1:$(BOOK_PORT)/index.html"
	$(BIN)/python -m http.server $(BOOK_PORT) --bind 127.0.0.1 --directory site

book-check: setup  ## build the book and check every page in headless Chromium (apt-get install -y chromium chromium-driver)
	@$(BOOK_DEPS)
	$(BIN)/python book/check.py
