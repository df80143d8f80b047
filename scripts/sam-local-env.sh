#!/usr/bin/env bash
# Writes .cache/sam-env.json: local/env.json plus development key material in
# SIGNING_KEY, PUBLIC_KEYS and REFRESH_KEY, for
# `sam local start-api --env-vars .cache/sam-env.json`. The material is the local
# server's own (.cache/dev-signing-key.pem, .cache/dev-public-keys.json and
# .cache/dev-refresh-key, the names local/env.go reads), made here with
# `sessionctl keys init --dir .cache` if none of them exists. No key is ever committed,
# which is why local/env.json leaves the three empty.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
files=(.cache/dev-signing-key.pem .cache/dev-public-keys.json .cache/dev-refresh-key)
missing=()
for f in "${files[@]}"; do
  [[ -e $f ]] || missing+=("$f")
done
if ((${#missing[@]} == ${#files[@]})); then
  go run ./cmd/sessionctl keys init --dir .cache
elif ((${#missing[@]} > 0)); then
  # Never make one part anew: the three belong together. The local server completes
  # them from the private key set, as it does on every start.
  echo "sam-local-env: ${missing[*]} missing; run 'make run' once to complete the development keys, or delete ${files[*]} to make new ones" >&2
  exit 1
fi
umask 077
tmp=$(mktemp .cache/sam-env.json.XXXXXX)
trap 'rm -f "$tmp"' EXIT
python3 - "${files[@]}" >"$tmp" <<'PY'
import json, sys
env = json.load(open("local/env.json"))
for name, path in zip(("SIGNING_KEY", "PUBLIC_KEYS", "REFRESH_KEY"), sys.argv[1:]):
    if name not in env["Parameters"]:
        sys.exit("sam-local-env: local/env.json does not declare " + name)
    env["Parameters"][name] = open(path).read()
json.dump(env, sys.stdout, indent=2)
PY
mv "$tmp" .cache/sam-env.json
trap - EXIT
echo "wrote .cache/sam-env.json (SIGNING_KEY, PUBLIC_KEYS and REFRESH_KEY from ${files[*]})"
