#!/usr/bin/env bash
# The test command: lints, then the whole workspace's tests against local emulators.
#   1. cargo fmt --check
#   2. cargo clippy --workspace --all-targets -- -D warnings
#   3. scripts/emulators.sh install && start (LocalStack :4566, moto :5000), unless already running
#   4. cargo test --workspace --all-targets, then the doc tests, with the emulator environment
#      and EDDY_EMULATORS=1 (integration tests then expect the emulators to be up)
# Emulators this script started are stopped on exit; ones already running are left alone.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "emulators"
scripts/emulators.sh install
started_emulators=0
stop_emulators() {
  local rc=$?
  if [ "$started_emulators" = 1 ]; then
    step "stopping the emulators this run started"
    scripts/emulators.sh stop || true
  fi
  exit "$rc"
}
trap stop_emulators EXIT
if scripts/emulators.sh status > /dev/null; then
  echo "emulators already running: using them, leaving them running"
else
  started_emulators=1
  scripts/emulators.sh start
fi
eval "$(scripts/emulators.sh env)"
export EDDY_EMULATORS=1

step "cargo test --workspace --all-targets"
cargo test --workspace --all-targets

step "cargo test --workspace --doc"
cargo test --workspace --doc
scripts/deploy-checks.sh
