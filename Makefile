# Shortcuts over scripts/. The README's two set-up commands are scripts/run and scripts/test.
.PHONY: run test test-multi-long bench bench-quality bench-encode bench-video-path bench-screen bench-voice bench-multi av-sync faults soak soak-multi fuzz deb deb-test windows windows-test

run:
	scripts/run

test:
	scripts/test

# Benchmarks are measurements, not tests: run them on a quiet machine.
# Every benchmark side by side with its reference (ffmpeg, raw openh264);
# rewrites docs/BENCHMARKS.md. About 20 minutes on 2 cores.
bench: export CARGO_TARGET_DIR ?= $(HOME)/.cache/onair/target
bench:
	scripts/bench

# Picture quality per bit: Onair's encoder as a session configures it against
# x264 veryfast (OBS's default) on three generated clips at 720p30 2500k,
# 1080p30 4500k and 360p30 600k: SSIM, PSNR, bitrate, CPU, and the bitrate
# Onair needs for x264's SSIM. Rewrites its section of docs/BENCHMARKS.md.
# About 10 minutes on 2 cores.
bench-quality: export CARGO_TARGET_DIR ?= $(HOME)/.cache/onair/target
bench-quality:
	scripts/bench-quality

# Frames/s of raw openh264 vs the engine's whole video path (criterion).
bench-video-path:
	scripts/bench-video-path

# The screen source and the layouts against the camera path (CPU per second
# of stream, capture-to-encoded latency), on a virtual 1920x1080 screen.
bench-screen: export CARGO_TARGET_DIR ?= $(HOME)/.cache/onair/target
bench-screen:
	scripts/bench-screen

# CPU of one session to LiveKit + two RTMP + a recording against the most
# expensive destination alone and against one onair process per destination;
# Go Live to every destination live. Rewrites its section of docs/BENCHMARKS.md
# (make bench runs it too). About 6 minutes.
bench-multi: export CARGO_TARGET_DIR ?= $(HOME)/.cache/onair/target
bench-multi:
	scripts/bench-multi

# CPU s per 10 s of stream (engine vs raw openh264 vs x264 veryfast), the
# cost of simulcast, peak RSS at 1080p30.
bench-encode:
	scripts/bench-encode

# CPU per second of audio of the voice chain (light, clean), release build.
bench-voice: export CARGO_TARGET_DIR ?= $(HOME)/.cache/onair/target
bench-voice:
	cargo run --quiet --release -p onair-engine --example voice_cost

# Ten minutes of test pattern and tone: the A/V offset must stay within
# +-20 ms from start to end (also through the microphone when PulseAudio is
# installed). Not part of the tests.
av-sync: export CARGO_TARGET_DIR ?= $(HOME)/.cache/onair/target
av-sync:
	cargo build --quiet -p onair-cli
	scripts/av-sync --mic

# The fault matrix at length: 30 s per fault, 50 server restarts (CI runs
# tests/test_faults.py shorter). Not part of the tests.
faults:
	scripts/faults

# Live to LiveKit and RTMP at once for ONAIR_SOAK_MINUTES (default 30) on a
# clean link: RSS growth under 5 MB after warm-up, no lost frame, A/V within
# +-20 ms at the end. Not part of the tests. Builds the CLI unless ONAIR_BIN is set.
soak: export CARGO_TARGET_DIR ?= $(HOME)/.cache/onair/target
soak:
	$(if $(ONAIR_BIN),,cargo build --quiet -p onair-cli)
	scripts/soak

# One onair process to LiveKit (simulcast), two nginx-rtmp servers and a
# local recording for ONAIR_SOAK_MINUTES (default 10): RSS growth under 5 MB,
# no frame lost at any receiver, no destination reconnecting or dropping,
# A/V within +-20 ms at the end (issue 21). Not part of the tests.
soak-multi: export CARGO_TARGET_DIR ?= $(HOME)/.cache/onair/target
soak-multi: export ONAIR_SOAK_MINUTES ?= 10
soak-multi:
	$(if $(ONAIR_BIN),,cargo build --quiet -p onair-cli)
	scripts/soak --multi

# The multi-destination session of tests/test_multistream.py at the issue's
# full minute (CI streams 20 s).
test-multi-long: export CARGO_TARGET_DIR ?= $(HOME)/.cache/onair/target
test-multi-long:
	$(if $(ONAIR_BIN),,cargo build --quiet -p onair-cli)
	ONAIR_MULTI_SECONDS=60 $(HOME)/.cache/onair/venv/bin/python -m pytest tests/test_multistream.py -q -p no:cacheprovider -k one_go_live

# Every fuzz target for ten minutes (the tests give each 20 s); corpora
# carry over between runs under ~/.cache/onair/fuzz. Not part of the tests.
fuzz:
	scripts/fuzz 600

# The .deb a creator installs: the desktop app and the onair CLI, stripped.
deb:
	scripts/deb

# Builds the .deb, installs it with apt, opens the app under Xvfb (a
# window titled Onair), runs onair --version, and removes it again.
deb-test:
	scripts/deb-test

# onair.exe, cross-built for Windows with MinGW-w64 (dist/windows/).
windows:
	scripts/windows/build

# Builds onair.exe and runs tests/windows under Wine.
windows-test:
	scripts/windows/test
