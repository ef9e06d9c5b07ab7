#!/usr/bin/env bash
# Sets up everything ProcOS needs on a fresh machine of this kind, then runs
# one `deno task`. Idempotent: a second run installs nothing.
#
#   bash tools/run.sh build            # compile procos.config.yaml into out/
#   bash tools/run.sh test             # every test, against the real services
#   bash tools/run.sh <task> [args...] # any task of deno.json
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Deno 2.9.6 from npm, pinned by tools/package-lock.json.
if [ ! -x tools/node_modules/.bin/deno ] || ! tools/node_modules/.bin/deno --version 2>/dev/null | grep -q '^deno 2.9.6'; then
  (cd tools && npm ci --no-audit --no-fund --loglevel=error)
fi
export PATH="$root/tools/node_modules/.bin:$PATH"
export DENO_NO_UPDATE_CHECK=1

# npm packages of deno.json, as pinned by deno.lock.
deno install --frozen --quiet >/dev/null

task=${1:-build}
shift || true
if [ "$task" = "test" ] || [ "$task" = "up" ]; then
  # The engine jars the local runtime starts, one per distribution
  # (compiler/engines.ts; Maven caches them in ~/.m2; a rebuild happens only
  # when the engine's sources are newer than the jar). `up` needs only the
  # spec's, but builds it itself when it is missing.
  for dist in camunda:engine/target/procos-engine.jar \
    operaton:engine/target/operaton/procos-engine-operaton.jar; do
    profile=${dist%%:*} jar=${dist#*:}
    if [ ! -f "$jar" ] || [ -n "$(find engine/pom.xml engine/src engine/vendor -newer "$jar" -print -quit)" ]; then
      (cd engine && mvn -q -B -P"$profile" package -DskipTests)
    fi
  done
fi
if [ "$task" = "test" ]; then
  bash tools/setup-services.sh
  # Debian's chromium for the browser test (tests/browser/), driven by npm
  # playwright-core: no browser download.
  if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  # The container images the container tests run (stand-ins for the official
  # images, the worker image): built once, then seconds (docs/containers.md).
  if [ "${PROCOS_SKIP_CONTAINERS:-}" != 1 ]; then deno task images; fi
  if [ -n "${PROCOS_JUNIT:-}" ]; then
    exec deno test --allow-all --junit-path="$PROCOS_JUNIT" tests/ "$@"
  fi
fi
exec deno task "$task" "$@"
