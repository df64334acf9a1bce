# One entry point for people and CI: every target sets up its own virtualenv.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# A machine with an NVIDIA GPU gets PyPI's normal (CUDA) torch through pyproject's range;
# without one we pin the CPU build that pip finds on local disk (no multi-GB download).
HAS_GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo yes)
TORCH_CPU := torch==2.13.0

.PHONY: test demo venv clean bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
ifeq ($(HAS_GPU),yes)
	$(PY) -m pip install -q -e '.[dev,gpu]'
else
	$(PY) -m pip install -q $(TORCH_CPU)
	$(PY) -m pip install -q -e '.[dev]'
endif
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile

demo: $(STAMP)
	$(VENV)/bin/netspec demo

bench: $(STAMP)
	$(PY) benchmarks/compile.py

clean:
	rm -rf $(VENV) build *.egg-info
