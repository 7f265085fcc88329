#!/usr/bin/env bash
# Deploy checks, offline once the tools are installed (scripts/test.sh runs this after the
# cargo tests, so CI does too):
#   1. tools: Python venvs under .emu/deploy-venv/ from infra/tools/requirements-*.txt
#      (every version pinned: cfn-lint + aws-sam-cli, checkov, cargo-lambda + zig),
#      `npm ci` in infra/, the aarch64-unknown-linux-gnu Rust target
#   2. cfn-lint template.yaml
#   3. sam validate --lint
#   4. checkov on template.yaml: no failed check (skips are justified in the template)
#   5. the filter's FilterCriteria: `eddy rules filter-criteria rules/security.yaml` must print
#      infra/filter-criteria/security.json (template.yaml and the CDK app use that file's patterns)
#   6. cargo lambda build --release --arm64: one aarch64 `bootstrap` per function, zipped,
#      sizes printed
#   7. sam build: the template's build metadata (rust-cargolambda); it runs the same cargo
#      lambda command in the same target directory, so it reuses step 6's build
#   8. infra/: npm test (the CDK stack against template.yaml), npx cdk synth (offline, with
#      step 6's bootstraps), cfn-lint and checkov on the synthesised template
#
# Usage: scripts/deploy-checks.sh [--no-build]     --no-build skips 6, 7 and the synth
# Env:   EMU_DIR (default <repo>/.emu) holds the venvs, caches and build outputs.
#
# The Lambda build is the real release profile (fat LTO, one codegen unit), in CI too: from a
# fresh clone on an idle 2-core machine it takes about 4 minutes, and the whole script about
# 7. (Overriding the profile with thin LTO and 16 codegen units used more CPU, not less: with
# fat LTO the dependencies only emit bitcode.) `sam build` then runs the same cargo command
# in the same target directory and finds nothing to do.
# Exits non-zero on the first failure.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
EMU_DIR=${EMU_DIR:-$REPO/.emu}
VENVS=$EMU_DIR/deploy-venv
OUT=$EMU_DIR/deploy
FUNCTIONS=(archive enrich filter detect aggregate)
TARGET=aarch64-unknown-linux-gnu

BUILD=1
[ "${1:-}" = "--no-build" ] && BUILD=0

# offline and quiet: no telemetry, no update checks, no instance metadata lookups
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} AWS_EC2_METADATA_DISABLED=true \
  SAM_CLI_TELEMETRY=0 CDK_DISABLE_VERSION_CHECK=true CDK_DISABLE_CLI_TELEMETRY=true \
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CACHE_DIR=$EMU_DIR/pip-cache npm_config_cache=$EMU_DIR/npm-cache \
  npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

step() { printf '\n==> deploy: %s\n' "$*"; }
die() { echo "deploy-checks: $*" >&2; exit 1; }

TIMINGS=()
timed() { # label command...
  local label=$1 start end
  shift
  start=$(date +%s)
  "$@"
  end=$(date +%s)
  TIMINGS+=("$(printf '%-34s %5ss' "$label" $((end - start)))")
}

# ---------------------------------------------------------------- 1. tools
venv() { # name: creates or refreshes $VENVS/name from infra/tools/requirements-name.txt
  local name=$1 req=$REPO/infra/tools/requirements-$1.txt dir=$VENVS/$1 want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ "$(cat "$dir/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    echo "installing $name tools from ${req#"$REPO"/}"
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q --no-deps -r "$req"
    echo "$want" > "$dir/.requirements.sha256"
  fi
}

install_tools() {
  mkdir -p "$VENVS" "$OUT"
  venv sam
  venv checkov
  venv lambda
  local want
  want=$(sha256sum infra/package-lock.json | cut -d' ' -f1)
  if [ ! -d infra/node_modules ] || [ "$(cat infra/node_modules/.eddy-lock.sha256 2>/dev/null)" != "$want" ]; then
    echo "npm ci in infra/"
    (cd infra && npm ci --no-fund --no-audit --loglevel=error)
    echo "$want" > infra/node_modules/.eddy-lock.sha256
  fi
  if [ "$BUILD" = 1 ] && ! rustup target list --installed | grep -qx "$TARGET"; then
    rustup target add "$TARGET" || die "cannot add the Rust target $TARGET (needed for arm64 Lambda builds)"
  fi
}

step "tools (.emu/deploy-venv, infra/node_modules)"
timed "tools" install_tools
# cargo and cargo-lambda (and zig, through the ziglang package) for cargo, sam and cdk
export PATH=$VENVS/lambda/bin:$PATH
SAM=$VENVS/sam/bin/sam
CFN_LINT=$VENVS/sam/bin/cfn-lint
CHECKOV=$VENVS/checkov/bin/checkov
CHECKOV_ARGS=(--framework cloudformation --skip-download --compact --quiet)

# ---------------------------------------------------------------- 2-4. lint and scan
step "cfn-lint template.yaml"
timed "cfn-lint" "$CFN_LINT" template.yaml
echo "clean"

step "sam validate --lint"
timed "sam validate --lint" "$SAM" validate --lint --template template.yaml

step "checkov (template.yaml)"
timed "checkov template.yaml" "$CHECKOV" -f template.yaml "${CHECKOV_ARGS[@]}"

# ---------------------------------------------------------------- 5. FilterCriteria drift
filter_criteria() {
  cargo run -q -p eddy-cli -- rules filter-criteria rules/security.yaml > "$OUT/filter-criteria.json"
  python3 - "$OUT/filter-criteria.json" infra/filter-criteria/security.json <<'PY'
import json, sys
generated, committed = (json.load(open(p)) for p in sys.argv[1:3])
if generated != committed:
    sys.exit("rules/security.yaml's FilterCriteria changed: copy them into infra/filter-criteria/security.json and "
             "template.yaml (FilterFunction), from\n  cargo run -p eddy-cli -- rules filter-criteria rules/security.yaml")
print(f"{len(committed['Filters'])} filter patterns, as generated")
PY
}
step "FilterCriteria of the filter function"
timed "filter-criteria drift" filter_criteria

# ---------------------------------------------------------------- 6-7. Lambda builds
lambda_build() {
  local packages=()
  for f in "${FUNCTIONS[@]}"; do packages+=(-p "eddy-$f"); done
  cargo lambda build --release --arm64 "${packages[@]}"
}

check_and_zip() { # each bootstrap: an aarch64 ELF executable; zipped as Lambda gets it
  python3 - "$OUT/zips" "${FUNCTIONS[@]}" <<'PY'
import os, sys, zipfile
out, names = sys.argv[1], sys.argv[2:]
os.makedirs(out, exist_ok=True)
for name in names:
    path = f"target/lambda/{name}/bootstrap"
    with open(path, "rb") as f:
        head = f.read(20)
    if head[:4] != b"\x7fELF" or int.from_bytes(head[18:20], "little") != 183:
        sys.exit(f"{path} is not an aarch64 ELF executable")
    zip_path = f"{out}/{name}.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(path, "rb") as f:
            z.writestr(info, f.read(), compresslevel=9)
    print(f"{name:10} bootstrap {os.path.getsize(path) / 2**20:6.2f} MiB   zip {os.path.getsize(zip_path) / 2**20:6.2f} MiB")
PY
}

sam_build() {
  rm -rf .aws-sam/build
  "$SAM" build --template template.yaml --build-dir .aws-sam/build
  for f in Archive Enrich Filter Detect Aggregate; do
    [ -x ".aws-sam/build/${f}Function/bootstrap" ] || die "sam build made no bootstrap for ${f}Function"
  done
  # the layer is not built: the built template points at rules/ itself
  grep -q "ContentUri: ../../rules" .aws-sam/build/template.yaml || die "sam build: RulesLayer does not point at rules/"
}

if [ "$BUILD" = 1 ]; then
  step "cargo lambda build --release --arm64"
  timed "cargo lambda build --release" lambda_build
  check_and_zip

  step "sam build"
  timed "sam build" sam_build
fi

# ---------------------------------------------------------------- 8. CDK
step "infra: npm test (CDK stack vs template.yaml)"
timed "npm test (parity)" bash -c 'cd infra && npm test --silent'

if [ "$BUILD" = 1 ]; then
  step "infra: npx cdk synth (offline), cfn-lint and checkov on its template"
  synth() {
    (cd infra && npx cdk synth --quiet --no-notices -c eddy:build=false --output "$OUT/cdk.out")
    "$CFN_LINT" "$OUT/cdk.out/Eddy.template.json"
    "$CHECKOV" -f "$OUT/cdk.out/Eddy.template.json" "${CHECKOV_ARGS[@]}"
  }
  timed "cdk synth + lint + checkov" synth
fi

printf '\n==> deploy: timings\n'
printf '  %s\n' "${TIMINGS[@]}"
