# Shortcuts over scripts/. The README's two set-up commands are scripts/run and scripts/test.
.PHONY: run test bench deb

run:
	scripts/run

test:
	scripts/test

# Benchmarks are measurements, not tests: run them on a quiet machine.
bench:
	scripts/bench

# A .deb of the desktop app (needs the Tauri CLI: cargo install tauri-cli --version '^2' --locked).
deb:
	scripts/setup && cargo tauri build --bundles deb
