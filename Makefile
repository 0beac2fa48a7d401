# otelcol-lambda: `make run` and `make test` are all a fresh machine needs; `make help` lists
# the rest. Tools are pinned and installed into ./bin; Debian packages (Prometheus, curl) are
# installed with apt-get when missing and we are root, otherwise the command is printed.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT      := $(abspath .)
BIN       := $(ROOT)/bin
BUILD_DIR := $(ROOT)/_build
GATEWAY   := $(BUILD_DIR)/otelcol-lambda

# One collector release for everything: ocb, core, contrib. check-versions enforces it.
OCB_VERSION      := v0.165.0
MDATAGEN_VERSION := v0.159.0# the newest mdatagen the module proxy serves; see internal/tools
CORE_V0          := v0.165.0
CORE_V1          := v1.71.0

STATICCHECK_VERSION := v0.8.2# honnef.co/go/tools, the staticcheck linter
# v5.8.2: the newest kustomize whose module builds with Go 1.26 (v5.8.3 needs 1.27).
KUSTOMIZE_VERSION   := v5.8.2

OCB         := $(BIN)/builder
MDATAGEN    := $(BIN)/mdatagen
STATICCHECK := $(BIN)/staticcheck
KUSTOMIZE   := $(BIN)/kustomize

GO_SOURCES := $(shell find receiver processor connector extension internal -name '*.go' -not -name '*_test.go' -not -path 'internal/tools/*' 2>/dev/null)
COMPONENTS := $(patsubst %/metadata.yaml,%,$(wildcard receiver/*/metadata.yaml processor/*/metadata.yaml connector/*/metadata.yaml extension/*/metadata.yaml))

# Go fuzz targets: "package:Target". make test runs each briefly, make fuzz for longer.
FUZZ_TARGETS  := ./internal/telemetryapi:FuzzDecodeEvents ./internal/telemetryapi:FuzzDecodeRecord ./internal/telemetryapi:FuzzDropOutOfBounds ./internal/promtext:FuzzParse ./layer/internal/pushgw:FuzzPush ./receiver/lambdatelemetryreceiver:FuzzTelemetryHandler ./processor/lambdafleetmetricsprocessor:FuzzConsumeMetrics ./receiver/cloudwatchmetricstreamreceiver:FuzzFirehoseRequest ./internal/cloudwatch:FuzzConvert ./receiver/lambdatelemetryreceiver/internal/translator:FuzzColdStartCountsOnce ./layer/internal/runtimeproxy:FuzzErrorType
# The smoke run counts executions: with a duration, Go 1.26's fuzz coordinator can fail a
# target with a bare "context deadline exceeded" as the time runs out on a loaded machine
# (go.dev/issue/75804, fixed in Go 1.27), which CI saw once on FuzzPush.
FUZZ_TIME     ?= 30000x
FUZZ_TIME_LONG ?= 5m

step = @printf '\n==> %s\n' "$(1)"

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) \
		| sed -e 's/[$$](FUZZ_TIME)/$(FUZZ_TIME)/' -e 's/[$$](FUZZ_TIME_LONG)/$(FUZZ_TIME_LONG)/' -e 's/[$$](SOAK_DURATION)/$(SOAK_DURATION)/' \
		| awk 'BEGIN {FS = ":.*## "}; {printf "  make %-20s %s\n", $$1, $$2}'

# ---------------------------------------------------------------------------- tools

$(OCB):
	$(call step,installing ocb $(OCB_VERSION) into ./bin)
	GOBIN=$(BIN) go install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)

$(MDATAGEN): internal/tools/go.mod internal/tools/go.sum
	$(call step,building mdatagen $(MDATAGEN_VERSION) into ./bin)
	cd internal/tools && go build -o $(MDATAGEN) go.opentelemetry.io/collector/cmd/mdatagen

$(STATICCHECK):
	$(call step,installing staticcheck $(STATICCHECK_VERSION) into ./bin)
	GOBIN=$(BIN) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

.PHONY: tools
tools: $(OCB) $(MDATAGEN) $(STATICCHECK) ## Install the pinned tools into ./bin

# ---------------------------------------------------------------------------- jaeger (trace store)
# Jaeger v2, the real trace store that the e2e tests (and `make run JAEGER=1`) check
# exemplars against. testbed/tools/jaeger pins it in a module of its own; it is built with
# `go build` from inside that module, because `go install` refuses its replace directives.
JAEGER_VERSION := v1.76.0
JAEGER_BIN     := $(BIN)/jaeger

$(JAEGER_BIN): testbed/tools/jaeger/go.mod testbed/tools/jaeger/go.sum
	$(call step,building Jaeger $(JAEGER_VERSION) into ./bin (a few minutes the first time))
	@mkdir -p $(BIN)
	cd testbed/tools/jaeger && go build -o $(JAEGER_BIN) github.com/jaegertracing/jaeger/cmd/jaeger

# make run JAEGER=1: also start Jaeger on loopback and export the traces to it.
ifeq ($(JAEGER),1)
run: $(JAEGER_BIN)
run: export OTELCOL_LAMBDA_JAEGER := 1
run: export JAEGER_BIN := $(JAEGER_BIN)
endif
# ---------------------------------------------------------------------------- end jaeger

# Debian packages: installed when missing and root, otherwise the command to run is printed.
# apt_ensure checks a command on PATH; apt_check takes any shell check and what it is for.
apt_ensure = $(call apt_check,command -v $(1),$(2),$(1))
define apt_check
	@if ! $(1) >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			printf '\n==> installing the Debian package %s (for %s)\n' "$(2)" "$(3)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(2) >/dev/null; \
		else \
			echo "$(3) is missing; install it with: sudo apt-get install -y $(2)"; exit 1; \
		fi; \
	fi
endef

.PHONY: run-deps
run-deps: ## Install the Debian packages make run needs (prometheus, prometheus-alertmanager, curl)
	$(call apt_ensure,prometheus,prometheus)
	$(call apt_ensure,prometheus-alertmanager,prometheus-alertmanager)
	$(call apt_ensure,curl,curl)

.PHONY: node-deps
node-deps: ## Install Node.js and npm (the testbed's Node.js function, the Node requestHook's tests)
	$(call apt_ensure,node,nodejs)
	$(call apt_ensure,npm,npm)

.PHONY: deps
deps: run-deps node-deps scale-deps ## Install the Debian packages that make run and the tests need (also python3-prometheus-client, nodejs, npm, haproxy)
	$(call apt_check,/usr/bin/python3 -c 'import prometheus_client',python3-prometheus-client,the Python module prometheus_client of /usr/bin/python3 (the testbed's Python function))

# ---------------------------------------------------------------------------- build

.PHONY: build
build: $(GATEWAY) ## Build the distribution with ocb (incremental)

$(GATEWAY): builder-config.yaml go.mod go.sum $(GO_SOURCES) | $(OCB)
	$(call step,building otelcol-lambda with ocb (log: _build/build.log))
	@mkdir -p $(BUILD_DIR)
	@if ! $(OCB) --config builder-config.yaml > $(BUILD_DIR)/build.log 2>&1; then \
		tail -n 40 $(BUILD_DIR)/build.log; echo "ocb failed; the whole log is in _build/build.log"; exit 1; \
	fi
	@touch $@
	@echo "built $@"

.PHONY: generate
generate: $(MDATAGEN) ## Regenerate the components' mdatagen code
	$(call step,running mdatagen)
	@for c in $(COMPONENTS); do echo "  $$c"; (cd $$c && $(MDATAGEN) metadata.yaml); done

# The Grafana dashboards are generated by distribution/grafana/dashgen, a module of its own
# (the Grafana Foundation SDK stays out of go.mod), and committed.
DASHGEN    := distribution/grafana/dashgen
DASHBOARDS := $(ROOT)/distribution/grafana/dashboards

.PHONY: dashboards
dashboards: ## Regenerate distribution/grafana/dashboards from dashgen
	$(call step,generating the Grafana dashboards with $(DASHGEN))
	cd $(DASHGEN) && go run . -out $(DASHBOARDS)

# The SLO, concurrency and cost rules are generated by distribution/prometheus/rulegen from
# the spec users edit, and committed; so are those of rules/tests/full (a spec that uses
# every option, for the promtool tests). Each entry is spec:output directory.
RULEGEN    := go run ./distribution/prometheus/rulegen
RULE_SPECS := distribution/prometheus/alerting.yml:distribution/prometheus/rules \
	distribution/prometheus/rules/tests/full/alerting.yml:distribution/prometheus/rules/tests/full

.PHONY: rules
rules: ## Regenerate distribution/prometheus/rules/{slos,limits}.yml from alerting.yml
	$(call step,generating the SLO and limit rules with distribution/prometheus/rulegen)
	@for s in $(RULE_SPECS); do echo "  $${s%%:*}"; $(RULEGEN) -spec $${s%%:*} -out $${s##*:} || exit 1; done

# ---------------------------------------------------------------------------- run

.PHONY: run
run: build run-deps ## Build, then start a local Alertmanager, Prometheus and the gateway (Ctrl-C stops them all)
	$(call step,starting Alertmanager and Prometheus and then the gateway)
	@distribution/run.sh

# ---------------------------------------------------------------------------- checks

.PHONY: lint
lint: check-versions $(STATICCHECK) ## gofmt, go vet, staticcheck and the one-release check
	$(call step,gofmt and go vet)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './_build/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	go vet -tags e2e ./testbed/e2e/
	$(call step,staticcheck $(STATICCHECK_VERSION))
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags e2e ./testbed/e2e/
	cd instrumentation/go/lambdaevents && $(STATICCHECK) ./...
	cd instrumentation/go/lambdatrigger && $(STATICCHECK) ./...
	cd testbed/functions/goplain && go vet ./... && $(STATICCHECK) ./...
	cd $(DASHGEN) && go vet ./... && $(STATICCHECK) ./...
	cd $(MKIMAGE_DIR) && go vet ./... && $(STATICCHECK) ./...

.PHONY: check-versions
check-versions: ## Fail when a collector module is not at the pinned release
	$(call step,checking that every collector module is at $(CORE_V0) / $(CORE_V1))
	@bad=$$( { grep -hoE '(go\.opentelemetry\.io/collector|github\.com/open-telemetry/opentelemetry-collector-contrib)[^ ]* v[0-9][^ ]*' builder-config.yaml go.mod; } \
		| grep -vE ' ($(CORE_V0)|$(CORE_V1))$$' | sort -u || true); \
	if [ -n "$$bad" ]; then echo "not at the pinned release:"; echo "$$bad"; exit 1; fi; echo "  ok"

.PHONY: check-generated
check-generated: $(MDATAGEN) ## Fail when mdatagen output, the Grafana dashboards or the generated rules are stale
	$(call step,checking that generated code is up to date)
	@sums() { find $(COMPONENTS) \( -name 'generated_*' -o -name documentation.md -o -path '*/internal/metadata*/*' \) -type f \
		| sort | xargs sha256sum; }; \
	before=$$(sums); $(MAKE) --no-print-directory generate >/dev/null; after=$$(sums); \
	if [ "$$before" != "$$after" ]; then diff <(echo "$$before") <(echo "$$after") || true; \
		echo "mdatagen output was stale: review and commit what 'make generate' just wrote"; exit 1; fi; echo "  ok"
	@cd $(DASHGEN) && go run . -check -out $(DASHBOARDS) && echo "  dashboards ok"
	@for s in $(RULE_SPECS); do $(RULEGEN) -check -spec $${s%%:*} -out $${s##*:} || exit 1; done; echo "  rules ok"

.PHONY: unit
unit: $(KUSTOMIZE) scale-deps ## Unit and component tests (with the race detector)
	$(call step,unit and component tests)
	KUSTOMIZE=$(KUSTOMIZE) go test -race -count=1 ./...
	cd $(DASHGEN) && go test -race -count=1 ./...
	cd $(MKIMAGE_DIR) && go test -race -count=1 ./...

.PHONY: fuzz-smoke
fuzz-smoke: ## Run each fuzz target for $(FUZZ_TIME) (executions)
	$(call step,fuzzing each target for $(FUZZ_TIME) (-fuzztime))
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "  $$pkg $$fn"; go test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZ_TIME) $$pkg; done

.PHONY: fuzz
fuzz: ## Run each fuzz target for $(FUZZ_TIME_LONG)
	@$(MAKE) --no-print-directory fuzz-smoke FUZZ_TIME=$(FUZZ_TIME_LONG)

# The testbed's Node.js function's packages (its Go function builds in the test itself).
NODEFN := testbed/functions/nodefn
$(NODEFN)/node_modules/.package-lock.json: $(NODEFN)/package.json $(NODEFN)/package-lock.json | node-deps
	$(call step,installing the testbed Node.js function's packages (npm ci))
	cd $(NODEFN) && npm ci --no-audit --no-fund --silent

# The testbed's uninstrumented Node.js function runs on AWS's runtime interface client
# (aws-lambda-ric), whose install builds its native client (aws-lambda-cpp, curl: both shipped
# in the npm package) with autotools and cmake: 7 to 11 minutes on 2 cores, once.
NODERIC := testbed/functions/noderic
.PHONY: noderic-deps
noderic-deps: node-deps ## Install the build tools aws-lambda-ric's npm install needs (g++, cmake, autoconf, automake, libtool)
	$(call apt_ensure,g++,g++)
	$(call apt_ensure,cmake,cmake)
	$(call apt_ensure,autoconf,autoconf)
	$(call apt_ensure,automake,automake)
	$(call apt_ensure,libtoolize,libtool)
$(NODERIC)/node_modules/.package-lock.json: $(NODERIC)/package.json $(NODERIC)/package-lock.json | noderic-deps
	$(call step,installing the testbed's uninstrumented Node.js function (npm ci builds aws-lambda-ric's native client: minutes))
	cd $(NODERIC) && npm ci --no-audit --no-fund --silent

.PHONY: e2e
e2e: build deps image $(JAEGER_BIN) $(NODEFN)/node_modules/.package-lock.json $(NODERIC)/node_modules/.package-lock.json ## End-to-end: the built gateway (and its image) and a real Prometheus, exact counts
	$(call step,end-to-end tests against a real Prometheus)
	OTELCOL_LAMBDA_BIN=$(GATEWAY) JAEGER_BIN=$(JAEGER_BIN) OTELCOL_LAMBDA_IMAGE=$(IMAGE_TARBALL) go test -tags e2e -count=1 -timeout 15m -v ./testbed/e2e/...

# ---- instrumentation-test (lambda_correlation's function-side pieces) ----------------
# The Go module instrumentation/go/lambdaevents has its own go.mod (functions must not pull
# the Collector in), so ./... above never reaches it; the Node requestHook runs against the
# real @opentelemetry/instrumentation-aws-lambda from npm.
.PHONY: instrumentation-test
instrumentation-test: node-deps ## Function-side instrumentation: Go lambdatrigger and lambdaevents (tests, fuzz) and the Node requestHook
	$(call step,instrumentation/go/lambdatrigger: vet + tests + fuzz for $(FUZZ_TIME))
	cd instrumentation/go/lambdatrigger && gofmt -l . | (! grep .) && go vet ./... && go test -race -count=1 ./... \
		&& go test -run='^$$' -fuzz='^FuzzClassify$$' -fuzztime=$(FUZZ_TIME) .
	$(call step,instrumentation/go/lambdaevents: vet + tests + fuzz for $(FUZZ_TIME))
	cd instrumentation/go/lambdaevents && gofmt -l . | (! grep .) && go vet ./... && go test -race -count=1 ./... \
		&& go test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZ_TIME) .
	$(call step,instrumentation/node: requestHook against @opentelemetry/instrumentation-aws-lambda)
	cd instrumentation/node && npm ci --no-audit --no-fund --silent && node --test
# ---- end instrumentation-test ------------------------------------------------------------

# ---- rules-test (the Prometheus rules of distribution/prometheus/rules) --------------------
.PHONY: rules-test
rules-test: run-deps ## promtool check and unit tests of the recording and alert rules; amtool check of the Alertmanager configuration
	$(call step,promtool: check and test the rules of distribution/prometheus/rules; amtool: check distribution/alertmanager/alertmanager.yml)
	promtool check rules distribution/prometheus/rules/*.yml
	promtool test rules distribution/prometheus/rules/tests/*.yml
	amtool check-config distribution/alertmanager/alertmanager.yml
# ---- end rules-test ----------------------------------------------------------------------

.PHONY: test
test: lint check-generated unit k8s-test fuzz-smoke instrumentation-test rules-test e2e ## Everything CI checks
	@printf '\n==> make test: all checks passed\n'

# The gateway benchmark's arguments and report. The defaults are what README's figures were
# measured with; make bench-gateway BENCH_ARGS="-invocations 500000" for a longer run, and
# BENCH_OUT=/tmp/trial.md for a trial that leaves the committed report alone.
BENCH_ARGS ?=
BENCH_OUT ?= testbed/results/bench.md

.PHONY: bench
bench: bench-go bench-gateway bench-push ## All benchmarks, results in testbed/results/ (make soak: the 10-minute soak)

.PHONY: bench-go
bench-go: ## Go benchmarks, written to testbed/results/microbench.txt
	$(call step,Go benchmarks (5 runs each))
	@mkdir -p testbed/results
	go test -run='^$$' -bench=. -benchmem -count=5 ./... | tee testbed/results/microbench.txt

# ---------------------------------------------------------------------------- Lambda layer
# make layer: the extension for x86_64 and arm64, each zipped as extensions/<name> (the
# layout Lambda expects). make layer-bench: measure it (and the floor) with testbed/cmd/extbench;
# layer/build/ holds build output only, the measurement goes to testbed/results/.
LAYER_BUILD := $(ROOT)/layer/build
LAYER_NAME  := otelcol-lambda-extension
LAYER_ARCHS := x86_64 arm64
LAYER_BENCH_INVOCATIONS ?= 3000
LAYER_BENCH_COLDSTARTS  ?= 50
# Generated in full by each run; testbed/results/extension.md explains the figures.
LAYER_BENCH_OUT         ?= testbed/results/extension-bench.md

.PHONY: layer
layer: ## Build the Lambda layer zips into layer/build/ (x86_64, arm64)
	$(call step,building the Lambda extension layer)
	@mkdir -p $(LAYER_BUILD)
	@go build -o $(LAYER_BUILD)/mkzip ./layer/cmd/mkzip
	@for arch in $(LAYER_ARCHS); do \
		case $$arch in x86_64) goarch=amd64;; *) goarch=$$arch;; esac; \
		bin=$(LAYER_BUILD)/$$arch/extensions/$(LAYER_NAME); \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$goarch go build -trimpath -ldflags "-s -w" -o $$bin ./layer/cmd/$(LAYER_NAME); \
		$(LAYER_BUILD)/mkzip -o $(LAYER_BUILD)/$(LAYER_NAME)-$$arch.zip extensions/$(LAYER_NAME)=$$bin; \
		echo "  layer/build/$(LAYER_NAME)-$$arch.zip: $$(stat -c %s $(LAYER_BUILD)/$(LAYER_NAME)-$$arch.zip) bytes (binary $$(stat -c %s $$bin))"; \
	done

.PHONY: layer-bench
layer-bench: layer ## Measure the extension and the floor under the Lambda emulator, written to testbed/results/extension-bench.md
	$(call step,measuring the extension with testbed/cmd/extbench)
	@CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(LAYER_BUILD)/floor/extensions/floorext ./testbed/cmd/floorext
	@go build -o $(LAYER_BUILD)/extbench ./testbed/cmd/extbench
	@mkdir -p testbed/results
	$(LAYER_BUILD)/extbench -extension $(LAYER_BUILD)/x86_64/extensions/$(LAYER_NAME) -zip $(LAYER_BUILD)/$(LAYER_NAME)-x86_64.zip \
		-invocations $(LAYER_BENCH_INVOCATIONS) -coldstarts $(LAYER_BENCH_COLDSTARTS) | tee $(LAYER_BENCH_OUT)
	$(LAYER_BUILD)/extbench -extension $(LAYER_BUILD)/floor/extensions/floorext -flush "" \
		-invocations $(LAYER_BENCH_INVOCATIONS) -coldstarts $(LAYER_BENCH_COLDSTARTS) | tee -a $(LAYER_BENCH_OUT)
# ---------------------------------------------------------------------------- end of Lambda layer

.PHONY: bench-gateway
bench-gateway: build deps ## otelcol-lambda against the stock spanmetrics pipeline, written to testbed/results/bench.md
	$(call step,gateway benchmark: otelcol-lambda against otlp -> batch -> spanmetrics -> prometheusremotewrite)
	go run ./testbed/cmd/gatewaybench -bin $(GATEWAY) -out $(BENCH_OUT) $(BENCH_ARGS)

# The soak's length; make soak SOAK_DURATION=1h for a longer one.
SOAK_DURATION ?= 10m

.PHONY: soak
soak: build deps ## The soak scenario: a constant fleet load for $(SOAK_DURATION), RSS and CPU over time, exact counts, written to testbed/results/soak.md
	$(call step,soak: otelcol-lambda under a constant fleet load for $(SOAK_DURATION))
	go run ./testbed/cmd/scenarios -bin $(GATEWAY) -soak $(SOAK_DURATION) -out testbed/results/soak.md

# ---- scenarios (testbed/cmd/scenarios: fleet load against the built gateway, exact counts) ----
.PHONY: scenarios
scenarios: build deps ## Fleet scenarios (steady, cold-start burst, error storm, outage, restart, kill, replicas, push), written to testbed/results/scenarios.md; then make scale and make reliability
	$(call step,fleet scenarios: gateway processes -> real Prometheus and the validating sink)
	go run ./testbed/cmd/scenarios -bin $(GATEWAY) -out testbed/results/scenarios.md
	@$(MAKE) --no-print-directory scale
	@$(MAKE) --no-print-directory reliability

# The long ones (about 35 minutes): outages of 2 and 6 minutes (503 and connection refused),
# 20,000 functions x 50,000 sandboxes. Rewrites only its own part of reliability.md.
.PHONY: reliability
reliability: build deps ## Backend outages of 2 and 6 min and a 20k-function, 50k-sandbox fleet: lost, double-counted, peak RSS, first warning, SIGTERM time, in testbed/results/reliability.md
	$(call step,reliability scenarios: long backend outages and a fleet beyond the cardinality limit)
	go run ./testbed/cmd/scenarios -bin $(GATEWAY) -reliability -out testbed/results/reliability.md
# ---- end scenarios ---------------------------------------------------------------------------

# ---- screenshots (README.md's picture: the alerting e2e test's error burst, seen in a headless browser) ----
SCREENSHOTS := $(ROOT)/docs/images

.PHONY: screenshots
screenshots: build deps ## Take docs/images/prometheus-alerts.png while the alerting e2e test's alerts fire (installs chromium-headless-shell)
	$(call apt_ensure,chromium-headless-shell,chromium-headless-shell)
	$(call step,a screenshot of Prometheus' alerts page during the alerting e2e test, into docs/images)
	OTELCOL_LAMBDA_SCREENSHOTS=$(SCREENSHOTS) OTELCOL_LAMBDA_BIN=$(GATEWAY) \
		go test -tags e2e -count=1 -timeout 10m -v -run '^TestAlertsReachAWebhookAndResolve$$' ./testbed/e2e/
# ---- end screenshots -----------------------------------------------------------------------

# ---- bench-push (testbed/cmd/gatewaybench -push: Pushgateway pushes as the extension forwards them) ----
# make bench-push PUSH_BENCH_ARGS="-push-sandboxes 1000 -rounds 1" for a shorter run.
PUSH_BENCH_ARGS ?=

.PHONY: bench-push
bench-push: build deps ## The gateway under pushes: CPU per flush and per data point, RSS, exact counts, written to testbed/results/push.md
	$(call step,push benchmark: otelcol-lambda under the extension's Pushgateway flushes)
	go run ./testbed/cmd/gatewaybench -bin $(GATEWAY) -push -out testbed/results/push.md $(PUSH_BENCH_ARGS)
# ---- end bench-push ----------------------------------------------------------------------------

# ---- kubernetes (deploy/kubernetes: the kustomization, rendered and checked against the config) ----
K8S_DIR           := deploy/kubernetes

$(KUSTOMIZE):
	$(call step,installing kustomize $(KUSTOMIZE_VERSION) into ./bin)
	GOBIN=$(BIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Install the pinned kustomize into ./bin

.PHONY: k8s-render
k8s-render: $(KUSTOMIZE) ## Render deploy/kubernetes into _build/kubernetes.yaml (what kubectl apply -k would apply)
	$(call step,rendering $(K8S_DIR) into $(BUILD_DIR)/kubernetes.yaml)
	@mkdir -p $(BUILD_DIR)
	$(KUSTOMIZE) build $(K8S_DIR) > $(BUILD_DIR)/kubernetes.yaml

.PHONY: k8s-test
k8s-test: $(KUSTOMIZE) build ## Check the rendered manifests against distribution/config.yaml (ports, probes, memory, token, drain) and the gateway's validate
	$(call step,kubernetes manifests against the gateway's configuration)
	KUSTOMIZE=$(KUSTOMIZE) OTELCOL_LAMBDA_BIN=$(GATEWAY) go test -count=1 ./$(K8S_DIR)/
# ---- end kubernetes ------------------------------------------------------------------------------

# ---- capacity (testbed/cmd/gatewaybench -capacity: memory per sandbox and per series, CPU per invocation, sizing) ----
# make capacity CAPACITY_ARGS="-capacity-sandboxes 1000,5000 -capacity-functions 100,1000 -rounds 1" for a shorter run.
CAPACITY_ARGS ?= -invocations 100000 -sizes 10,100,1000

.PHONY: capacity
capacity: build deps ## The capacity model: memory per active sandbox and series, CPU per invocation, sizing for 100k and 1M invocations/s, written to testbed/results/capacity.md
	$(call step,capacity model: memory per sandbox and per series; CPU per invocation)
	go run ./testbed/cmd/gatewaybench -bin $(GATEWAY) -capacity -out testbed/results/capacity.md $(CAPACITY_ARGS)
# ---- end capacity ------------------------------------------------------------------------------

# ---- image (the gateway's container image from distribution/Dockerfile, without a Docker daemon) ----
# distribution/image/mkimage (a module of its own: go-containerregistry stays out of go.mod)
# reads the Dockerfile's last stage and writes an image tarball per architecture, for
# docker load / podman load; make image IMAGE_ARCHS="amd64 arm64" for both.
# make image-files is what the Dockerfile's build stage runs: under _build/image, the
# image's root filesystem per architecture (linux-<arch>/rootfs: the gateway, the health
# probe, the configuration and overlays, /etc/passwd and /etc/group, the CA certificates)
# and the empty storage directory. install sets every mode, directories included, so the
# tree does not depend on the umask or the checkout: the Dockerfile copies it without
# --chmod (see there why), and mkimage takes the modes from it.
# The build machine's gateway is ocb's own binary; another architecture's is compiled from
# ocb's sources in _build with ocb's flags. So a cross build (docker buildx --platform
# linux/arm64 on amd64) builds the build machine's gateway too and does not use it: ocb
# generates and compiles in one step, and `make build` is the one place it runs.
IMAGE_DIR      := $(BUILD_DIR)/image
IMAGE_REPO     ?= otelcol-lambda
IMAGE_VERSION  := $(shell sed -n 's/^  version: *//p' builder-config.yaml)
IMAGE_REVISION := $(shell git rev-parse HEAD 2>/dev/null)
HOST_GOARCH    := $(shell go env GOARCH)
IMAGE_ARCHS    ?= $(HOST_GOARCH)
MKIMAGE        := $(BIN)/mkimage
MKIMAGE_DIR    := distribution/image/mkimage
# How ocb compiles: CGO_ENABLED=0 go build -trimpath -ldflags="-s -w".
OCB_GOFLAGS    := -trimpath -ldflags='-s -w'

image_tarball = $(IMAGE_DIR)/otelcol-lambda-$(IMAGE_VERSION)-linux-$(1).tar
# The build machine's image, which the e2e test runs (OTELCOL_LAMBDA_IMAGE).
IMAGE_TARBALL := $(call image_tarball,$(HOST_GOARCH))

$(MKIMAGE): $(MKIMAGE_DIR)/go.mod $(MKIMAGE_DIR)/go.sum $(wildcard $(MKIMAGE_DIR)/*.go)
	$(call step,building mkimage into ./bin)
	@mkdir -p $(BIN)
	cd $(MKIMAGE_DIR) && go build -o $(MKIMAGE) .

$(IMAGE_DIR)/linux-%/otelcol-lambda: $(GATEWAY)
	@mkdir -p $(@D)
	@if [ "$*" = "$(HOST_GOARCH)" ]; then cp $(GATEWAY) $@; else \
		echo "  compiling the gateway for linux/$* from ocb's sources in _build"; \
		cd $(BUILD_DIR) && CGO_ENABLED=0 GOOS=linux GOARCH=$* go build $(OCB_GOFLAGS) -o $@ .; fi

$(IMAGE_DIR)/linux-%/healthcheck: distribution/image/healthcheck/main.go
	CGO_ENABLED=0 GOOS=linux GOARCH=$* go build $(OCB_GOFLAGS) -o $@ ./distribution/image/healthcheck

# Every directory of a rootfs, parents too: install -d -m gives its mode only to the
# directories it is named, the parents it makes get the umask's.
IMAGE_ROOTFS_DIRS := etc etc/ssl etc/ssl/certs etc/otelcol-lambda etc/otelcol-lambda/overlays

.PHONY: image-files
image-files: build $(foreach a,$(IMAGE_ARCHS),$(IMAGE_DIR)/linux-$(a)/otelcol-lambda $(IMAGE_DIR)/linux-$(a)/healthcheck) ## The image's root filesystem per architecture and its storage directory, into _build/image (the Dockerfile's build stage runs this)
	$(call apt_check,test -s /etc/ssl/certs/ca-certificates.crt,ca-certificates,the CA certificates the image carries)
	@for arch in $(IMAGE_ARCHS); do \
		r=$(IMAGE_DIR)/linux-$$arch/rootfs; rm -rf $$r; \
		install -d -m 0755 $$r $(addprefix $$r/,$(IMAGE_ROOTFS_DIRS)); \
		install -m 0755 $(IMAGE_DIR)/linux-$$arch/otelcol-lambda $(IMAGE_DIR)/linux-$$arch/healthcheck $$r/; \
		install -m 0644 distribution/image/passwd distribution/image/group $$r/etc/; \
		install -m 0644 /etc/ssl/certs/ca-certificates.crt $$r/etc/ssl/certs/; \
		install -m 0644 distribution/config.yaml $$r/etc/otelcol-lambda/; \
		install -m 0644 distribution/overlays/*.yaml $$r/etc/otelcol-lambda/overlays/; \
		echo "  staged $$r"; \
	done
	@rm -rf $(IMAGE_DIR)/storage && install -d -m 0755 $(IMAGE_DIR)/storage

.PHONY: image
image: image-files $(MKIMAGE) ## The container image as a tarball per architecture in _build/image (IMAGE_ARCHS="amd64 arm64"), without a Docker daemon
	$(call step,building $(IMAGE_REPO):$(IMAGE_VERSION) from distribution/Dockerfile with mkimage)
	@for arch in $(IMAGE_ARCHS); do \
		$(MKIMAGE) -dockerfile distribution/Dockerfile -context $(ROOT) -arch $$arch \
			-build-arg VERSION=$(IMAGE_VERSION) -build-arg REVISION=$(IMAGE_REVISION) \
			-tag $(IMAGE_REPO):$(IMAGE_VERSION) -o $(call image_tarball,$$arch) || exit 1; \
	done
	@echo "load it with: docker load -i $(call image_tarball,$(firstword $(IMAGE_ARCHS)))  (or podman load -i)"
# ---- end image ---------------------------------------------------------------------------------

# ---- scale (deploy/haproxy: N gateway replicas behind a real HAProxy) ----------------------
.PHONY: scale-deps
scale-deps: ## Install Debian's haproxy (deploy/haproxy/haproxy.cfg; the scale scenarios and their e2e test)
	$(call apt_ensure,haproxy,haproxy)

.PHONY: scale
scale: build deps scale-deps ## Replicas behind HAProxy: kill, restart and scale out, L4 against the hash, throughput by replicas, in testbed/results/scale.md
	$(call step,scale scenarios: sandboxes -> HAProxy (deploy/haproxy/haproxy.cfg) -> gateway replicas -> real Prometheus)
	go run ./testbed/cmd/scenarios -bin $(GATEWAY) -scale -out testbed/results/scale.md
# ---- end scale -----------------------------------------------------------------------------

.PHONY: clean
clean: ## Remove the build output (the gateway, the layer), the tools and what make run left
	rm -rf $(BUILD_DIR) $(BIN) $(LAYER_BUILD) .run
