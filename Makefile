# Rampart: see README.md. The two commands a new machine needs: `make run` and `make test`.

SHELL := /bin/bash
CARGO ?= cargo
# Where OWASP CRS lives (rules/, crs-setup.conf.example, plugins/). Found automatically:
# CRS_DIR from the environment, ../shared/crs (development checkout), Debian's
# modsecurity-crs package, or a CRS release downloaded into .cache/ (see scripts/find-crs.sh).
CRS_DIR ?= $(shell scripts/find-crs.sh)
export CRS_DIR

.PHONY: all build release run test unit slt conformance rules-check bench deps clean

all: build

deps:
	scripts/install-deps.sh

build: deps
	$(CARGO) build

release: deps
	$(CARGO) build --release

# The gateway on 127.0.0.1:8080 with stock CRS (paranoia 1, blocking) in front of the
# built-in demo backend on 127.0.0.1:8081.
run: release
	@echo "CRS: $(CRS_DIR)"
	./target/release/rampart run --demo

# Everything CI runs: unit and integration tests, the secrules-language-tests vectors,
# the stock-CRS rules check and the CRS regression suite through the real gateway.
test: unit slt rules-check conformance

unit: deps
	$(CARGO) test --no-fail-fast -- --test-threads=2

# The secrules-language-tests vectors, with their summary line shown.
slt: deps
	set -o pipefail; $(CARGO) test --test secrules_language_tests -- --nocapture 2>&1 | grep -E '^(secrules-language-tests|test result)'

rules-check: build
	scripts/rules-check.sh

conformance: deps
	$(CARGO) test --release --test crs_regression
	$(CARGO) test --release --test crs_blocking

# Side-by-side throughput (req/s, p99) and memory: Rampart WAF on/off vs nginx + libmodsecurity,
# stock CRS PL1 blocking, driven by wrk (BENCH_DURATION=10 s per cell, BENCH_WORKERS=1; see
# scripts/bench.sh). The engine alone: `cargo bench --bench engine` (benches/engine.rs).
bench:
	scripts/bench.sh

clean:
	$(CARGO) clean
