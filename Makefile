# Shortcuts over scripts/. The README's two set-up commands are scripts/run and scripts/test.
.PHONY: run test bench bench-encode av-sync deb

run:
	scripts/run

test:
	scripts/test

# Benchmarks are measurements, not tests: run them on a quiet machine.
bench:
	scripts/bench

# CPU s per 10 s of stream (engine vs raw openh264 vs x264 veryfast), the
# cost of simulcast, peak RSS at 1080p30.
bench-encode:
	scripts/bench-encode

# Ten minutes of test pattern and tone: the A/V offset must stay within
# +-20 ms from start to end (also through the microphone when PulseAudio is
# installed). Not part of the tests.
av-sync: export CARGO_TARGET_DIR ?= $(HOME)/.cache/onair/target
av-sync:
	cargo build --quiet -p onair-cli
	scripts/av-sync --mic

# A .deb of the desktop app, with the Tauri CLI from the UI's npm packages.
deb: export CARGO_TARGET_DIR ?= $(HOME)/.cache/onair/target
deb:
	scripts/setup
	ui/node_modules/.bin/tauri build --bundles deb
