# Two commands do all the set-up on a fresh machine:
#   make demo   renders the demo clip on the embedded defaults and prints its path
#   make test   installs what the tests need and runs them
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fireside-installed
DEMO_TEXT ?= Good evening, and welcome to the fireside. I am your AI panelist, and tonight we talk about money, markets and open banking.

.PHONY: setup system-deps demo test strip bench clean

setup: $(STAMP)

# Debian packages: espeak-ng (the fallback voice engine's library)
system-deps:
	@if ! ldconfig -p | grep -q libespeak-ng.so.1; then \
		if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
		$$sudo apt-get update -qq && $$sudo apt-get install -y -qq espeak-ng; \
	fi

$(STAMP): pyproject.toml Makefile
	$(MAKE) system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	# MediaPipe's pins (numpy<2, protobuf<5) are stale: its needs are in pyproject.toml
	$(BIN)/pip install -q --no-deps mediapipe==0.10.21
	touch $@

demo: setup
	@mkdir -p build
	$(BIN)/fireside say "$(DEMO_TEXT)" --out build/demo.mp4

test: setup
	$(BIN)/python -m pytest

strip: setup
	$(BIN)/fireside strip docs/rigs.png

bench: setup
	$(BIN)/fireside bench render
	$(BIN)/fireside bench tts

clean:
	rm -rf $(VENV) build *.egg-info
