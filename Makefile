# mmfer — the two commands of the README:
#   make demo   SynthFER → train the ResNet-18 baseline → test → metrics, confusion matrix, curves
#   make test   the whole test suite
# Both create .venv/ with the pinned dependency set first when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmfer-installed

.PHONY: install demo test clean-demo

install: $(STAMP)

$(STAMP): setup.py requirements/constraints.txt requirements/runtime.txt requirements/tests.txt \
		requirements/infer.txt requirements/onnx.txt requirements/vis.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade-strategy only-if-needed \
		-c requirements/constraints.txt -r requirements/runtime.txt -r requirements/tests.txt \
		-r requirements/infer.txt -r requirements/onnx.txt -r requirements/vis.txt
	$(PY) -m pip install --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	PYTHON=$(PY) bash tools/demo.sh

# one pytest-xdist worker per core (TEST_WORKERS=0 runs in one process); a test file runs in
# one worker (--dist loadfile), so its module fixtures are built once
TEST_WORKERS ?= auto
test: $(STAMP)
	$(PY) -m pytest tests -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

clean-demo:
	rm -rf data/synthfer_rafdb work_dirs/demo
