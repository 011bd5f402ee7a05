#!/bin/sh
# Idempotent set-up for a fresh Debian machine with Node 20: nats-server,
# npm dependencies, generated protobuf code and the compiled build.
set -eu
cd "$(dirname "$0")/.."

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing nats-server (apt-get)"
    apt-get install -y nats-server >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y nats-server >/dev/null; }
  else
    echo "setup: nats-server is missing. Install it with: sudo apt-get install -y nats-server" >&2
    echo "       (or point NATS_URL at a running nats-server with JetStream)" >&2
    [ -n "${NATS_URL:-}" ] || exit 1
  fi
fi

# The browser test (test/e2e/browser.test.ts) needs chromium: installed for `scripts/test` and CI
# (where the test fails without it), not for `scripts/up`, so running the broker never pulls a browser.
case "${CI:-}${SETUP_FOR_TESTS:-}" in
  ""|false|0) ;;
  *)
    if [ -z "${CHROMIUM_PATH:-}" ] && ! command -v chromium >/dev/null 2>&1; then
      if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing chromium (apt-get), for the browser test"
        apt-get install -y chromium >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
      else
        echo "setup: chromium is missing and the browser test will fail. Install it with: sudo apt-get install -y chromium" >&2
        echo "       (or set CHROMIUM_PATH to a Chromium or Chrome binary)" >&2
      fi
    fi
    ;;
esac

node -e 'const [M]=process.versions.node.split(".");if(+M<20){console.error("setup: Node 20 or newer is required, found "+process.version);process.exit(1)}'

# Reinstall only when the lockfile changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  # `npm install`, not `npm ci`: node-llama-cpp lists prebuilt binaries for every platform as optional
  # dependencies and the registry lacks some of this version's, which `npm ci` refuses as an unsynced lock.
  npm install --no-audit --no-fund --loglevel=error
fi

echo "setup: building"
npm run --silent build

# The demo model `broker up` serves: written here, never downloaded (git-ignored).
node dist/scripts/gen-demo-model.js
