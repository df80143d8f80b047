#!/usr/bin/env bash
# Writes .cache/sam-env.json: local/env.json plus a development signing key in
# SIGNING_KEY, for `sam local start-api --env-vars .cache/sam-env.json`. The key is
# the local server's (.cache/dev-signing-key.pem, made here if missing); no key is
# ever committed, which is why local/env.json leaves SIGNING_KEY empty.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
key=.cache/dev-signing-key.pem
if [[ ! -s $key ]]; then
  (umask 077 && go run ./cmd/sessionctl keygen >"$key.tmp" && mv "$key.tmp" "$key")
fi
umask 077
python3 - "$key" >.cache/sam-env.json <<'PY'
import json, sys
env = json.load(open("local/env.json"))
env["Parameters"]["SIGNING_KEY"] = open(sys.argv[1]).read()
json.dump(env, sys.stdout, indent=2)
PY
echo "wrote .cache/sam-env.json (SIGNING_KEY from $key)"
