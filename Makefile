# finessectl: `make demo` shows the product against its built-in simulator,
# `make test` runs the unit and end-to-end tests, `make integration` the tests
# against a real Prosody and go-sendxmpp (scripts/install-integration-deps.sh
# installs them from Debian's packages when missing).

GO          ?= go
BIN         := bin/finessectl
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X main.version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TOOLS       := $(CURDIR)/bin/tools
FUZZTIME    ?= 20s
PEER_RUNS   ?= 10

.PHONY: all build demo test unit lint integration bench bench-peers fuzz clean

all: build

# Static (no cgo): the binary can be copied to any Linux monitoring host.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/finessectl

## demo: check a simulated Finesse node through every failure scenario
demo:
	$(GO) run ./cmd/finessectl demo

## test: lint, then every unit and end-to-end test that needs no external server
test: lint unit

unit:
	$(GO) test -race -count=1 ./...

lint: $(TOOLS)/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./...
	$(GO) vet -tags 'benchpeers perfprofile' ./internal/perf
	$(TOOLS)/staticcheck ./...
	$(TOOLS)/staticcheck -tags benchpeers,perfprofile ./internal/perf

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install $(STATICCHECK)

## integration: the same pipeline against a real Prosody on 127.0.0.1
integration:
	sh scripts/install-integration-deps.sh
	$(GO) test -tags integration -count=1 -timeout 10m ./...

## bench: parse, probe and end-to-end check costs, the whole process as cron
## runs it (internal/perf: start-up, a local check, 1 to 200 nodes at 50 ms
## RTT), a soak of 1,000 watch reconnections, and the round trips of a check
## behind a 50 ms delay proxy in front of Prosody (numbers go in the README)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 $$($(GO) list ./... | grep -v '/internal/watch$$')
	$(GO) test -run '^$$' -bench '^BenchmarkWatchFlaps$$' -benchtime 1000x -count=1 ./internal/watch
	command -v prosody >/dev/null || sh scripts/install-integration-deps.sh
	$(GO) test -tags integration -run '^$$' -bench '^BenchmarkRoundTrips$$' -benchtime 10x -count=1 ./internal/check

## bench-peers: finessectl beside curl, check_xmppng and check_tcp against the
## same simulated node at 50 ms RTT, PEER_RUNS runs each, medians and ratios
## (scripts/install-bench-deps.sh installs the tools when missing, as root)
bench-peers:
	sh scripts/install-bench-deps.sh
	$(GO) test -tags benchpeers -run '^TestPeers$$' -count=1 -v ./internal/perf -args -peers.runs=$(PEER_RUNS)

## fuzz: a short run of each fuzz target, FUZZTIME each (a duration such as 20s,
## or a count such as 10000x, which CI uses: see .ci/run)
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/systeminfo
	$(GO) test -run '^$$' -fuzz '^FuzzParseAPIErrors$$' -fuzztime $(FUZZTIME) ./internal/systeminfo
	$(GO) test -run '^$$' -fuzz '^FuzzInterpret$$' -fuzztime $(FUZZTIME) ./internal/systeminfo
	$(GO) test -run '^$$' -fuzz '^FuzzParseTarget$$' -fuzztime $(FUZZTIME) ./internal/check
	$(GO) test -run '^$$' -fuzz '^FuzzAwaitPresence$$' -fuzztime $(FUZZTIME) ./internal/xmppprobe
	$(GO) test -run '^$$' -fuzz '^FuzzNotification$$' -fuzztime $(FUZZTIME) ./internal/xmppprobe
	$(GO) test -run '^$$' -fuzz '^FuzzLine$$' -fuzztime $(FUZZTIME) ./internal/textsafe
	$(GO) test -run '^$$' -fuzz '^FuzzWebSocketMessage$$' -fuzztime $(FUZZTIME) ./internal/notifserver

clean:
	rm -rf bin
