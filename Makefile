# keyaudit developer targets. `make demo` and `make test` install what they
# need first (idempotent: nothing is reinstalled or rebuilt when present).
export KEYAUDIT_TOOLS ?= $(HOME)/.cache/keyaudit-tools
export GOFLAGS ?= -buildvcs=false
BIN := $(KEYAUDIT_TOOLS)/bin

.PHONY: deps build demo test test-short lint bench bench-ct bench-scale fuzz peers

deps:
	bash .ci/install.sh

build:
	go build -o bin/keyaudit ./cmd/keyaudit
	go build -o bin/keyaudit-demo ./cmd/keyaudit-demo

demo: deps build
	bash scripts/demo.sh

lint:
	test -z "$$(gofmt -l .)" || (gofmt -l .; exit 1)
	go vet ./...
	$(BIN)/staticcheck ./...

test: deps lint
	go test -race -count=1 -timeout 30m ./...

test-short:
	go test -short ./...

peers:
	bash scripts/build-peers.sh

# bench builds what it measures itself (the working tree, or KEYAUDIT_REF).
bench:
	bash scripts/bench-scan.sh

bench-scale:
	bash scripts/bench-scale.sh

# CT ingest in entries per CPU-second on a generated log served on loopback,
# beside certspotter when `make peers` built it.
bench-ct:
	bash scripts/bench-ct.sh

fuzz:
	bash scripts/fuzz.sh
