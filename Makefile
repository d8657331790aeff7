# Weft: the README's two commands are `make run` and `make test`.
# Both install the Debian packages they need (this must run as root on Debian).

GO      ?= go
BIN     := bin/weft
DATA    ?= /var/lib/weft
API     ?= 127.0.0.1:6443
COMMIT  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.gitCommit=$(COMMIT) -X main.buildDate=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)

# System packages: containerd, runc and the CNI plugins run pods; busybox-static is
# the source of the test image. etcd-server is the anchor of `make bench`.
SYSTEM_PKGS := containerd runc containernetworking-plugins busybox-static
BENCH_PKGS  := etcd-server
# rustc and its WebAssembly standard library build the built-in default scheduler
# policy, which is written in Rust (plugins/defaultpolicy-rs; no cargo, no crates).
# rustc links wasm with rust-lld, a link to lld-14, which is only recommended.
RUST_PKGS   := rustc libstd-rust-dev-wasm32 lld-14

# First-party plugins in Go, built for WebAssembly and embedded in the binary, and the
# default policy's Rust module, embedded as defaultpolicy. plugins/defaultpolicy is
# the same policy in Go: the SDK's reference and the native baseline its tests and
# benchmarks build themselves.
PLUGINS     := core apps binpack
RUST_POLICY_WASM := plugins/builtin/wasm/defaultpolicy.wasm
PLUGIN_WASM := $(PLUGINS:%=plugins/builtin/wasm/%.wasm) $(RUST_POLICY_WASM)

.PHONY: all build plugins test run bench deps deps-bench clean

all: build

deps:
	@./hack/install-packages.sh $(SYSTEM_PKGS) $(RUST_PKGS)

deps-bench: deps
	@./hack/install-packages.sh $(BENCH_PKGS)

plugins: $(PLUGIN_WASM)

# Rebuilt every time: go's build cache makes an unchanged plugin cost a second, and
# tracking the SDK and plugin sources here would duplicate what go already knows.
plugins/builtin/wasm/%.wasm: FORCE
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $@ ./plugins/$*/wasm

FORCE:

# Debian's rustc is preferred over one on PATH, which may lack the wasm32 standard
# library; the target is wasm32-wasi before rustc 1.78 and wasm32-wasip1 after.
RUSTC            ?= $(firstword $(wildcard /usr/bin/rustc) rustc)
RUST_WASM_TARGET  = $(shell s=$$($(RUSTC) --print sysroot 2>/dev/null); for t in wasm32-wasip1 wasm32-wasi; do [ -d "$$s/lib/rustlib/$$t/lib" ] && echo $$t && break; done)

$(RUST_POLICY_WASM): $(wildcard plugins/defaultpolicy-rs/src/*.rs) Makefile
	@[ -n "$(RUST_WASM_TARGET)" ] || { echo "weft: $(RUSTC) has no wasm32-wasi standard library; make deps installs it" >&2; exit 1; }
	$(RUSTC) --edition 2021 --crate-type cdylib --crate-name weft_defaultpolicy --target $(RUST_WASM_TARGET) \
		-C opt-level=3 -C codegen-units=1 -C panic=abort -C strip=symbols \
		-C target-feature=+bulk-memory,+nontrapping-fptoint \
		plugins/defaultpolicy-rs/src/lib.rs -o $@

build: plugins
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/weft

# Where watchers and writers share decoded objects and connections: run again under
# the race detector, which sees a write of an unchanged value that no assertion can.
RACE_PKGS = ./kernel/ ./kernel/objects/ ./kernel/nodes/ ./kernel/scheduler/ ./kernel/plugins/ ./kernel/gc/ ./nodelink/ ./store/

# WEFT_E2E=require turns "cannot run here" skips of end-to-end tests into failures,
# so CI never passes by skipping.
test: deps build
	$(GO) vet ./...
	cd sdk && $(GO) vet ./... && GOOS=wasip1 GOARCH=wasm $(GO) vet ./... && $(GO) test -count=1 ./...
	cd testdata/example-plugin && GOWORK=off $(GO) vet . && GOWORK=off $(GO) test -count=1 ./...
	WEFT_E2E=require WEFT_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 40m ./...
	$(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)

run: deps build
	$(BIN) up --data-dir $(DATA) --api-addr $(API)

bench: deps-bench build
	WEFT_BIN=$(CURDIR)/$(BIN) ./hack/bench.sh

clean:
	rm -rf bin $(PLUGIN_WASM) $(RUST_POLICY_WASM)
