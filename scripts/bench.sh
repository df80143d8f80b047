#!/usr/bin/env bash
# What `make bench` runs (see BENCHMARKS.md): Go CPU benchmarks (benchstat), the
# functions' binaries and start-up, DynamoDB cost per operation against DynamoDB
# Local, and load through the local server; then it rewrites the generated sections
# of BENCHMARKS.md from bench/results. Everything runs with AWS_CA_BUNDLE unset, as on
# Lambda (with it the SDK parses a CA bundle at every configuration load).
#
# Bounded: every step has a timeout and the whole stays under 10 minutes; whatever it
# starts (DynamoDB Local, the local server) it stops on exit, also on failure or ^C.
set -euo pipefail
cd "$(dirname "$0")/.."
unset AWS_CA_BUNDLE

GO=${GO:-go}
LDFLAGS=${LDFLAGS:--s -w}
GO_TAGS=${GO_TAGS:-lambda.norpc}
COUNT=${BENCH_COUNT:-6} # benchstat needs 6 samples for a 95 % confidence interval
BENCHSTAT_VERSION=v0.0.0-20260908200009-22c9c6c9d4da # golang.org/x/perf
RESULTS=bench/results
WORK=.cache/bench
BIN=$WORK/bin
BENCHSTAT=.cache/bin/benchstat
# BENCH_QUICK=1 shrinks every step, to try the pipeline; its figures are not for the
# document.
QUICK=${BENCH_QUICK:-}
benchtime=200ms starts=15 ssm_starts=5 e2e_args=()
DOC=BENCHMARKS.md
if [[ -n $QUICK ]]; then
	COUNT=1 benchtime=20ms starts=3 ssm_starts=1
	e2e_args=(-authorize 200 -refresh 100 -login 16 -repeats 1)
	# Leave the recorded results and BENCHMARKS.md alone: write copies under .cache.
	RESULTS=$WORK/quick-results
	DOC=$WORK/BENCHMARKS.quick.md
	mkdir -p "$WORK"
	cp BENCHMARKS.md "$DOC"
fi

start=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$RESULTS" "$BIN" "$WORK/native"

ddb_pid="" local_pid=""
stop() { # stop PID: SIGTERM, then SIGKILL after 10 s
	local pid=$1
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	stop "$local_pid"
	stop "$ddb_pid"
	rm -f "$WORK/ddb.endpoint"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s (%ds)\n' "$1" $(($(date +%s) - start)); }

step "building the tools"
for t in e2e startup report; do
	"$GO" build -o "$BIN/$t" "./bench/$t"
done
"$GO" build -o "$BIN/ddblocal" ./cmd/ddblocal
[[ -d local ]] || { echo "bench: local/ (the local server) is missing" >&2; exit 1; }
"$GO" build -o "$BIN/local" ./local
if [[ ! -x $BENCHSTAT ]] || ! grep -q "$BENCHSTAT_VERSION" <("$GO" version -m "$BENCHSTAT" 2>/dev/null); then
	GOBIN=$PWD/.cache/bin GOFLAGS=-mod=mod "$GO" install "golang.org/x/perf/cmd/benchstat@$BENCHSTAT_VERSION"
fi

step "DynamoDB Local (the benchmarks make their users and items in it)"
rm -f "$WORK/ddb.endpoint"
"$BIN/ddblocal" -endpoint-file "$WORK/ddb.endpoint" >/dev/null &
ddb_pid=$!
for _ in $(seq 240); do
	[[ -s $WORK/ddb.endpoint ]] && break
	kill -0 "$ddb_pid" 2>/dev/null || { echo "bench: DynamoDB Local failed to start" >&2; exit 1; }
	sleep 0.5
done
[[ -s $WORK/ddb.endpoint ]] || { echo "bench: DynamoDB Local did not start within 120 s" >&2; exit 1; }
endpoint=$(cat "$WORK/ddb.endpoint")
export AWS_ENDPOINT_URL_DYNAMODB=$endpoint AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
unset AWS_PROFILE AWS_SESSION_TOKEN
echo "  at $endpoint"

step "Go benchmarks (CPU with DynamoDB taken out; -count $COUNT)"
flags="-run ^\$ -benchmem -count $COUNT"
{
	timeout 360 "$GO" test $flags -bench . -benchtime $benchtime ./internal/authz ./internal/token ./internal/session
	timeout 120 "$GO" test $flags -bench . -benchtime 5x ./internal/password
} | tee "$RESULTS/gobench.txt" | grep -E '^(Benchmark|ok|FAIL|---)' | sed 's/^/  /'
"$BENCHSTAT" "$RESULTS/gobench.txt" >"$RESULTS/benchstat.txt"

step "function binaries (make build: linux/arm64) and start-up ($(go env GOOS)/$(go env GOARCH) build)"
make --no-print-directory build >/dev/null
for dir in functions/*/; do
	f=$(basename "$dir")
	CGO_ENABLED=0 "$GO" build -trimpath -ldflags="$LDFLAGS" -tags="$GO_TAGS" -o "$WORK/native/$f/bootstrap" "./functions/$f"
done
timeout 240 "$BIN/startup" -arm64 .build -native "$WORK/native" -runs $starts -ssm-runs $ssm_starts -out "$RESULTS/startup.json"

step "DynamoDB requests and capacity per operation"
timeout 300 "$GO" test -count=1 -v -run '^TestCost$' ./bench/cost -args -out "$PWD/$RESULTS/cost.json" 2>&1 | grep -E '^(cost:|--- FAIL|FAIL|ok)' | sed 's/^/  /'

step "end to end through the local server"
table=bench-e2e-$(date +%s)
TABLE_NAME=$table "$BIN/local" --addr 127.0.0.1:0 >"$WORK/local.out" 2>"$WORK/local.err" &
local_pid=$!
base=""
for _ in $(seq 240); do
	base=$(grep -o 'Listening on http://[0-9.:]*' "$WORK/local.out" | awk '{print $3}' || true)
	[[ -n $base ]] && break
	kill -0 "$local_pid" 2>/dev/null || { echo "bench: the local server failed:" >&2; tail -20 "$WORK/local.err" >&2; exit 1; }
	sleep 0.5
done
[[ -n $base ]] || { echo "bench: the local server did not start within 120 s" >&2; exit 1; }
echo "  local server at $base, table $table"
timeout 300 "$BIN/e2e" -base "$base" -endpoint "$endpoint" -table "$table" "${e2e_args[@]}" -out "$RESULTS/e2e.json" 2>&1 | sed 's/^/  /'
stop "$local_pid"
local_pid=""
stop "$ddb_pid"
ddb_pid=""

step "report"
json() { sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' <<<"$1"; }
cat >"$RESULTS/meta.json" <<EOF
{
  "date": "$(date -u '+%Y-%m-%d %H:%M')",
  "commit": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)",
  "go_version": "$(json "$("$GO" version)")",
  "cpu": "$(json "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')")",
  "cores": $(nproc),
  "mem_gib": $(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo),
  "load_before": "$load_before",
  "load_after": "$(cut -d' ' -f1-3 /proc/loadavg)",
  "wall_seconds": $(($(date +%s) - start)),
  "java": "$(json "$(java -version 2>&1 | head -1)")",
  "command": "make bench",
  "bench_flags": "$(json "go test $flags -bench . -benchtime $benchtime (argon2id: -benchtime 5x)")"
}
EOF
"$BIN/report" -results "$RESULTS" -doc "$DOC" -template template.yaml
printf '\nmake bench: done in %ds; %s and %s updated\n' $(($(date +%s) - start)) "$DOC" "$RESULTS"
