# Shoal — build, test, lint, benchmarks, demo, simulations.
# Tools the tests need (kubo, staticcheck) are built once into $(TOOLS), outside the repo.

GO        ?= go
TOOLS     ?= $(HOME)/.cache/shoal/tools
BIN       := bin
EXAMPLES  := hello wordcount sha256sum wcmap wcreduce
WASM      := $(foreach e,$(EXAMPLES),examples/$(e)/$(e).wasm)
TEST_TIMEOUT ?= 30m

export SHOAL_TOOLS := $(TOOLS)

.PHONY: all build examples test test-short lint bench demo demo-workflow demo-nat sim clean tools

all: build

build: $(BIN)/shoal examples

$(BIN)/shoal: FORCE
	$(GO) build -trimpath -o $@ ./cmd/shoal

examples: $(WASM)

examples/%.wasm: FORCE
	GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -o $@ ./$(dir $@)

FORCE:

# Everything `make test` needs that is not Go code of this module.
tools:
	@bash scripts/tools.sh

test: tools
	SHOAL_KUBO="$$(bash scripts/kubo.sh)" SHOAL_WEED="$$(bash scripts/seaweedfs.sh)" $(GO) test -race -timeout $(TEST_TIMEOUT) ./...

test-short:
	$(GO) test -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$$(bash scripts/staticcheck.sh) ./...

bench: build
	bash scripts/bench.sh

demo: build
	bash scripts/demo.sh

# A workflow over a corpus spread on 3 nodes: map where each file lives, then reduce.
demo-workflow: build
	bash scripts/demo-workflow.sh

# The NAT lab (root): relayed first hello, hole punching, a job across NATs, figures.
demo-nat:
	bash scripts/demo-nat.sh

sim: build
	bash scripts/sim.sh

clean:
	rm -rf $(BIN) $(WASM)
