#!/usr/bin/env bash
# Runs the headless-Chromium test of the browser module and the demo page
# (local/e2e/browser.test.mjs) against the local server, the way a person would use
# it: `make browser-test` (part of `make test`).
#
# On first use it installs Debian's chromium package (apt-get) and the test's npm
# dependencies (npm ci into local/e2e/node_modules). It starts a static server that
# serves the demo page from two other origins (local/e2e/app-origins.mjs), builds the
# local server and starts it on a free port with fresh users, CORS for the first of
# those origins and the shortest refresh-reuse grace window (it starts its own DynamoDB
# Local unless AWS_ENDPOINT_URL_DYNAMODB names one), then the same build a second time
# in cookie-only mode (ACCESS_TOKEN_COOKIE=on) on another free port, against the same
# DynamoDB Local with a table of its own, runs the test, and stops everything, checking
# that DynamoDB Local went away too. Screenshots land in .cache/screenshots/.
#
# Environment: CHROMIUM (default /usr/bin/chromium), SCREENSHOT_DIR.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
SCREENSHOT_DIR=${SCREENSHOT_DIR:-$root/.cache/screenshots}
say() { echo "browser-test: $*" >&2; }

# Chromium, from Debian's packages (never a browser download of Playwright's own).
if [ ! -x "$CHROMIUM" ]; then
	say "installing Debian's chromium package"
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

# playwright-core, pinned by local/e2e/package-lock.json.
if [ ! -f local/e2e/node_modules/playwright-core/package.json ]; then
	say "installing the test's npm dependencies (npm ci)"
	(cd local/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi

# Build, then run the binary itself, so the signal below reaches the server (go run
# would leave its child behind). The binary goes to a folder of this run's own: .cache
# is shared, and another checkout may be running this script at the same time.
mkdir -p "$SCREENSHOT_DIR"
work=$(mktemp -d)
go build -o "$work/local" ./local

# One user per part of the test (the password test changes its user's password).
user="browser-$RANDOM"
password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
users=()
for part in demo tabs lease clock devices cors narrow; do users+=(--user "$user-$part:$password"); done
log="$work/server.log"
server=""
origins=""
# The cookie-only server: its users, its output (the test reads the authorizer's reasons
# from it) and its process.
conly_users=()
for part in conly csrf; do conly_users+=(--user "$user-$part:$password"); done
conly_log="$work/cookie-only.log"
conly=""

# stop ends a server as Ctrl-C would and says whether it exited cleanly.
stop() {
	kill -TERM "$1"
	wait "$1"
}

cleanup() {
	status=$?
	# The cookie-only server first: it uses the other's DynamoDB Local.
	if [ -n "$conly" ] && kill -0 "$conly" 2>/dev/null; then
		if ! stop "$conly"; then
			say "the cookie-only server did not exit cleanly"
			status=1
		fi
	fi
	if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
		if ! stop "$server"; then
			say "the local server did not exit cleanly"
			status=1
		fi
	fi
	if [ -n "$origins" ] && kill -0 "$origins" 2>/dev/null; then
		kill -TERM "$origins"
		wait "$origins" 2>/dev/null || true
	fi
	if [ "$status" -ne 0 ]; then
		say "local server output:"
		cat "$log" >&2
		if [ -f "$conly_log" ]; then
			say "cookie-only server output:"
			cat "$conly_log" >&2
		fi
	fi
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The other origins first: the API's CORS_ORIGINS must name the allowed one.
node local/e2e/app-origins.mjs >"$work/origins" 2>&1 &
origins=$!
allowed="" refused=""
for _ in $(seq 1 100); do
	allowed=$(sed -n 's/^allowed \(http:[^ ]*\)$/\1/p' "$work/origins")
	refused=$(sed -n 's/^refused \(http:[^ ]*\)$/\1/p' "$work/origins")
	[ -n "$allowed" ] && [ -n "$refused" ] && break
	if ! kill -0 "$origins" 2>/dev/null; then
		say "the static server of the other origins exited:"
		cat "$work/origins" >&2
		exit 1
	fi
	sleep 0.1
done
if [ -z "$allowed" ] || [ -z "$refused" ]; then
	say "the static server of the other origins did not start"
	exit 1
fi

# listening waits for the server $1 writing to $2 to print its URL, and prints it.
listening() {
	local url=""
	for _ in $(seq 1 600); do # up to 5 minutes: the first run installs DynamoDB Local
		url=$(sed -n 's/^Listening on \(http:[^ ]*\).*/\1/p' "$2")
		if [ -n "$url" ]; then
			echo "$url"
			return 0
		fi
		if ! kill -0 "$1" 2>/dev/null; then
			say "a local server exited before listening"
			return 1
		fi
		sleep 0.5
	done
	say "a local server did not start within 5 minutes"
	return 1
}

# --addr 127.0.0.1:0: the kernel picks a free port and the server prints it, so there
# is no window in which another process could take a port picked beforehand.
# REFRESH_REUSE_GRACE=5s (the least the configuration takes) keeps the sleeping-tab
# test short.
CORS_ORIGINS=$allowed REFRESH_REUSE_GRACE=5s \
	"$work/local" --addr 127.0.0.1:0 "${users[@]}" >"$log" 2>&1 &
server=$!
base=$(listening "$server" "$log")
ddb=$(sed -n 's/^  DynamoDB: *\(http:[^ ]*\) (started here.*/\1/p' "$log")
say "server at $base (DynamoDB Local ${ddb:-from AWS_ENDPOINT_URL_DYNAMODB})"

# The same build in cookie-only mode, on the same DynamoDB Local (it starts none of its
# own), in a table of its own so that the two servers' users and sessions stay apart.
endpoint=$(sed -n 's/^  DynamoDB: *\(http:[^ ]*\) (.*/\1/p' "$log")
if [ -z "$endpoint" ]; then
	say "the local server did not say which DynamoDB it uses"
	exit 1
fi
AWS_ENDPOINT_URL_DYNAMODB=$endpoint TABLE_NAME=sessions-local-cookie-only ACCESS_TOKEN_COOKIE=on \
	"$work/local" --addr 127.0.0.1:0 "${conly_users[@]}" >"$conly_log" 2>&1 &
conly=$!
conly_base=$(listening "$conly" "$conly_log")
if ! grep -q '^  cookie-only:    on' "$conly_log"; then
	say "the second server is not in cookie-only mode"
	exit 1
fi
say "cookie-only server at $conly_base"

say "demo page also at $allowed (CORS allowed) and $refused (not allowed)"

BASE_URL=$base E2E_USER=$user E2E_PASSWORD=$password REUSE_GRACE_MS=5000 \
	APP_ORIGIN=$allowed REFUSED_ORIGIN=$refused CHROMIUM=$CHROMIUM SCREENSHOT_DIR=$SCREENSHOT_DIR \
	COOKIE_ONLY_URL=$conly_base COOKIE_ONLY_LOG=$conly_log \
	node --test --test-reporter=spec local/e2e/browser.test.mjs

# Stop the servers as Ctrl-C would, the cookie-only one first, and check that the other
# took DynamoDB Local with it.
pid=$conly
conly=""
if ! stop "$pid"; then
	say "the cookie-only server did not exit cleanly"
	exit 1
fi
pid=$server
server=""
if ! stop "$pid"; then
	say "the local server did not exit cleanly"
	exit 1
fi
if [ -n "$ddb" ] && curl -s -o /dev/null --max-time 2 "$ddb"; then
	say "DynamoDB Local at $ddb still answers after the server stopped"
	exit 1
fi
say "passed; screenshots in $SCREENSHOT_DIR"
