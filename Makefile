# Vigil — one Makefile for the whole suite. `make run` and `make test` are the
# two commands a newcomer needs; everything else supports them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

GO        ?= go
BIN       := $(CURDIR)/.bin
TOOLS_GO  := GOWORK=off $(GO)
SERVICES  := identity directory vault notify gateway
UNIT_MODULES := gen services/runtime $(addprefix services/,$(SERVICES))
MODULES   := $(UNIT_MODULES) services/e2e
THIRD     := $(CURDIR)/.third_party/proto
GATEWAY_V1 := github.com/grpc-ecosystem/grpc-gateway@v1.16.0
PROTOVALIDATE := github.com/bufbuild/protovalidate@v1.2.2

export PATH := $(BIN):$(PATH)

.PHONY: all build tools third-party generate lint format breaking check-generated check-modules vet test test-unit test-e2e run bench bench-go bench-hot bench-tools deploy-check clean

all: build

## tools: build the pinned code generators (tools/go.mod) into .bin/
tools:
	@mkdir -p $(BIN)
	cd tools && $(TOOLS_GO) build -o $(BIN)/ \
	  github.com/bufbuild/buf/cmd/buf \
	  google.golang.org/protobuf/cmd/protoc-gen-go \
	  google.golang.org/grpc/cmd/protoc-gen-go-grpc \
	  github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway \
	  github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2 \
	  ./openapigen ./deploycheck

## third-party: copy imported .proto files from the Go module cache (BSR is unreachable)
third-party:
	@gw=$$(cd tools && $(TOOLS_GO) mod download -json $(GATEWAY_V1) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); \
	pv=$$(cd tools && $(TOOLS_GO) mod download -json $(PROTOVALIDATE) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); \
	rm -rf $(THIRD) && mkdir -p $(THIRD)/google/api $(THIRD)/buf/validate; \
	cp $$gw/third_party/googleapis/google/api/annotations.proto $$gw/third_party/googleapis/google/api/http.proto $(THIRD)/google/api/; \
	cp $$pv/proto/protovalidate/buf/validate/validate.proto $(THIRD)/buf/validate/; \
	chmod -R u+w $(THIRD)

## generate: regenerate gen/ from proto/: Go, gRPC, gateway handlers, and the
## OpenAPI documents (v2 and v3, finished and validated by tools/openapigen
## with the gateway's overlay services/gateway/openapi.yaml)
generate: tools third-party
	rm -rf gen/gateway .build/openapi; find gen -name '*.pb.go' -o -name '*.pb.gw.go' -o -name '*.swagger.json' -o -name '*.openapi3.json' | xargs -r rm -f
	buf generate
	openapigen -in .build/openapi/vigil.swagger.json -overlay services/gateway/openapi.yaml \
	  -out-v2 gen/openapi/vigil.swagger.json -out-v3 gen/openapi/vigil.openapi3.json
	cd gen && $(GO) mod tidy

lint: tools third-party
	buf lint
	buf format --diff --exit-code proto

format: tools third-party
	buf format -w proto

## breaking: compare proto/ against the previous commit (or BREAKING_BASE)
breaking: tools third-party
	@./.ci/breaking.sh

## check-generated: fail when gen/ is not what proto/ produces
check-generated: generate
	@if [ -n "$$(git status --porcelain -- gen)" ]; then \
	  echo "gen/ is stale: run 'make generate' and commit"; git status --porcelain -- gen; exit 1; fi

## check-modules: every module builds on its own (GOWORK=off, replace lines
## only to local modules) and its go.mod is tidy (direct requirements not
## marked indirect)
check-modules:
	@for m in $(MODULES); do echo "GOWORK=off ./$$m"; (cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) mod tidy -diff); done

vet:
	@unformatted=$$(gofmt -l services gen tools); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	@for m in $(MODULES); do echo "go vet ./$$m/..."; (cd $$m && $(GO) vet ./...); done
	cd tools && $(TOOLS_GO) vet ./...

build:
	@mkdir -p $(BIN)
	@for s in $(SERVICES); do (cd services/$$s && $(GO) build -o $(BIN)/vigil-$$s ./cmd/$$s); done

test-unit:
	@for m in $(UNIT_MODULES); do echo "go test -race ./$$m/..."; (cd $$m && $(GO) test -race -count=1 ./...); done
	cd tools && $(TOOLS_GO) test -race -count=1 ./...

test-e2e: build
	cd services/e2e && VIGIL_BIN_DIR=$(BIN) $(GO) test -race -count=1 ./...

## test: everything CI checks
test: check-generated lint breaking check-modules vet test-unit test-e2e deploy-check

## run: start every service and the gateway on loopback
run: build
	@cd services/e2e && $(GO) build -o $(BIN)/vigil-run ./cmd/vigil-run
	@VIGIL_BIN_DIR=$(BIN) $(BIN)/vigil-run

## bench: every Go benchmark (BENCH selects, BENCHTIME sets the time), then
## the hot path on real sockets (bench-hot); each reports its figures
## against a baseline measured in the same run. The end-to-end module's
## benchmarks run the built binaries through the gateway.
BENCH     ?= .
BENCHTIME ?= 1s
bench: bench-go bench-hot

bench-go: build
	@for m in $(MODULES); do (cd $$m && VIGIL_BIN_DIR=$(BIN) $(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem -timeout 60m ./... | grep -Ev '^(PASS|\?|ok |goos|goarch|cpu|pkg)' || true); done

## bench-hot: the suite as `make run` starts it, loaded by ghz and wrk (50
## clients, BENCH_ROUNDS rounds of BENCH_DURATION per scenario, order
## alternating): GetMe against a health check over gRPC, GET /v1/me through
## the gateway against GetMe direct; medians, p99, CPU per request per
## process, RSS; CPU profiles of every process in BENCH_PROFILES
BENCH_ROUNDS   ?= 7
BENCH_DURATION ?= 5s
BENCH_PROFILES ?= .bench/profiles
bench-hot: build bench-tools
	@cd services/e2e && $(GO) build -o $(BIN)/vigil-bench ./cmd/vigil-bench
	$(BIN)/vigil-bench -bin $(BIN) -ghz $(BIN)/ghz -wrk wrk -rounds $(BENCH_ROUNDS) -d $(BENCH_DURATION) -profile $(BENCH_PROFILES)

## bench-tools: the load generators: ghz (pinned, go install into .bin/),
## wrk (Debian package)
GHZ_VERSION := v0.93.0
bench-tools:
	@mkdir -p $(BIN)
	@test -x $(BIN)/ghz || GOBIN=$(BIN) $(TOOLS_GO) install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)
	@command -v wrk >/dev/null || apt-get install -y wrk >/dev/null 2>&1 || { echo "make bench needs wrk: apt-get install wrk"; exit 1; }

## deploy-check: render deploy/k8s (kustomize, pinned) and check it offline:
## every object against the Kubernetes API schemas (kubeconform, strict, with
## schemas made from the k8s.io/kubernetes module's swagger.json), the
## deployment rules, the Dockerfile (a Go linter, tools/deploycheck), the
## .dockerignore and the Grafana dashboard
K8S_VERSION := v1.34.2
KUSTOMIZE   := sigs.k8s.io/kustomize/kustomize/v5@v5.8.2
deploy-check: tools
	@mkdir -p .build
	GOWORK=off $(GO) run $(KUSTOMIZE) build deploy/k8s > .build/k8s.yaml
	@k8s=$$(cd tools && $(TOOLS_GO) mod download -json k8s.io/kubernetes@$(K8S_VERSION) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); \
	deploycheck -manifests .build/k8s.yaml -swagger $$k8s/api/openapi-spec/swagger.json -schemas .build/k8s-schemas \
	  -dockerfile deploy/Dockerfile -dockerignore .dockerignore -dashboard deploy/grafana/vigil.json

clean:
	rm -rf $(BIN) $(THIRD) .build .bench
