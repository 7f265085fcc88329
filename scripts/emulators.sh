#!/usr/bin/env bash
# Local AWS emulators without Docker, bound to 127.0.0.1 only.
#   LocalStack (host mode, localstack-core 2026.3.0): Kinesis (kinesis-mock via npm), Firehose, S3,
#                                                      SQS, IAM, STS, Logs, CloudWatch      -> :4566
#   moto server 5.2.5: DynamoDB (LocalStack's needs DynamoDB Local + a Java download)     -> :5000
#
# Usage: scripts/emulators.sh install | start | stop | status | env
#   install  create the venvs and the kinesis-mock package (idempotent; quick when already done)
#   start    start both servers in the background and wait until they answer
#            (idempotent: servers that already answer are left alone)
#   stop     stop the servers this script started (pid files under $EMU_DIR)
#   status   print whether each server answers; exit 0 only when both do
#   env      print the exports that point the AWS CLI and SDKs at the emulators:
#              eval "$(scripts/emulators.sh env)"
#
# Everything (venvs, caches, state, logs, pid files) lives under EMU_DIR, by default
# <repo>/.emu (git-ignored). Needs: Python >= 3.13 (python3.13 on PATH or under pyenv),
# python3 with venv, node + npm, curl. Ports: LS_PORT (4566), MOTO_PORT (5000).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EMU_DIR=${EMU_DIR:-$REPO/.emu}
LS_PORT=${LS_PORT:-4566}
MOTO_PORT=${MOTO_PORT:-5000}

LS_VERSION=2026.3.0
MOTO_VERSION=5.2.5
# Resolve dependencies as of each release, so a later upload cannot change what gets installed
# (LocalStack: newer cbor2 6.x / pyOpenSSL 26.4 break it).
LS_EXCLUDE_NEWER=2026-03-24
MOTO_EXCLUDE_NEWER=2026-10-28

LS_URL=http://127.0.0.1:$LS_PORT
MOTO_URL=http://127.0.0.1:$MOTO_PORT

log() { echo "emulators: $*" >&2; }

# localstack-core 2026.3.0 needs Python 3.13 (3.11: PEP 695 SyntaxError; 3.12: "Lock | None"
# TypeError) although its metadata says >=3.10. Real interpreters first, pyenv shims last.
find_py313() {
  local c
  for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[3-9]*/bin/python3 python3.13 python3.14 python3; do
    "$c" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null || continue
    "$c" -c 'import sys; print(sys.executable)'
    return 0
  done
  log "need Python >= 3.13 (e.g. pyenv install 3.13.0)"
  return 1
}

setup_dirs() {
  mkdir -p "$EMU_DIR"/{logs,tmp,ls-fs,cache}
  export UV_CACHE_DIR=$EMU_DIR/uv-cache PIP_CACHE_DIR=$EMU_DIR/pip-cache \
    npm_config_cache=$EMU_DIR/npm-cache TMPDIR=$EMU_DIR/tmp UV_PYTHON_DOWNLOADS=never
}

# version of an installed distribution in a venv, or nothing
pkg_version() { # venv dist
  [ -x "$1/bin/python" ] || return 0
  "$1/bin/python" - "$2" 2>/dev/null <<'PY' || true
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    print(version(sys.argv[1]))
except PackageNotFoundError:
    pass
PY
}

install() {
  setup_dirs
  local UV=$EMU_DIR/uv/bin/uv
  if [ ! -x "$UV" ]; then
    log "bootstrapping uv"
    python3 -m venv "$EMU_DIR/uv"
    "$EMU_DIR/uv/bin/pip" install -q uv
  fi

  # LocalStack (+ the AWS CLI, used by `start` and handy for developers)
  if [ "$(pkg_version "$EMU_DIR/ls" localstack-core)" != "$LS_VERSION" ] || [ ! -x "$EMU_DIR/ls/bin/aws" ]; then
    local py313
    py313=${PY313:-$(find_py313)}
    [ -x "$EMU_DIR/ls/bin/python" ] || "$UV" venv -q --python "$py313" "$EMU_DIR/ls"
    log "installing localstack-core $LS_VERSION (the first time takes a while)"
    VIRTUAL_ENV=$EMU_DIR/ls "$UV" pip install -q --exclude-newer "$LS_EXCLUDE_NEWER" \
      "localstack-core[runtime]==$LS_VERSION" awscli
  fi

  # moto (DynamoDB)
  if [ "$(pkg_version "$EMU_DIR/moto" moto)" != "$MOTO_VERSION" ] || [ ! -x "$EMU_DIR/moto/bin/moto_server" ]; then
    [ -x "$EMU_DIR/moto/bin/python" ] || "$UV" venv -q --python "$(command -v python3)" "$EMU_DIR/moto"
    log "installing moto $MOTO_VERSION"
    VIRTUAL_ENV=$EMU_DIR/moto "$UV" pip install -q --exclude-newer "$MOTO_EXCLUDE_NEWER" "moto[server]==$MOTO_VERSION"
  fi

  # node shim: kinesis-mock (and other node servers) listen on all interfaces by default
  cat > "$EMU_DIR/force-localhost.js.new" <<'JS'
const net = require('net'); const orig = net.Server.prototype.listen;
const WILD = new Set([undefined, null, '', '0.0.0.0', '::', '::0']);
net.Server.prototype.listen = function (...a) {
  if (typeof a[0] === 'number' || (typeof a[0] === 'string' && /^\d+$/.test(a[0]))) {
    if (typeof a[1] === 'string') { if (WILD.has(a[1])) a[1] = '127.0.0.1'; } else a.splice(1, 0, '127.0.0.1');
  } else if (a[0] && typeof a[0] === 'object' && !('fd' in a[0]) && !('path' in a[0]) && WILD.has(a[0].host)) a[0] = { ...a[0], host: '127.0.0.1' };
  return orig.apply(this, a);
};
JS
  mv -f "$EMU_DIR/force-localhost.js.new" "$EMU_DIR/force-localhost.js"

  # kinesis-mock (npm package kinesis-local), installed by LocalStack's package manager
  local stamp=$EMU_DIR/kinesis-mock.installed
  if [ "$(cat "$stamp" 2>/dev/null)" != "$LS_VERSION" ] || [ ! -d "$EMU_DIR/ls-fs/usr/lib/localstack/kinesis-local" ]; then
    log "installing kinesis-mock"
    ( ls_env "$EMU_DIR/ls/bin/python" -m localstack.cli.lpm install kinesis-mock )
    echo "$LS_VERSION" > "$stamp"
  fi
  log "installed under $EMU_DIR"
}

ls_env() { # exec: when backgrounded as ( ls_env ... ) &, $! is the LocalStack PID itself
  exec env OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$EMU_DIR/ls-fs" TMPDIR="$EMU_DIR/tmp" XDG_CACHE_HOME="$EMU_DIR/cache" \
    GATEWAY_LISTEN=127.0.0.1:$LS_PORT GATEWAY_SERVER=hypercorn \
    SERVICES=${SERVICES:-kinesis,firehose,s3,sqs,iam,sts,logs,cloudwatch} \
    SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1 LOCALSTACK_TELEMETRY=0 DNS_ADDRESS=0 \
    NODE_OPTIONS="--require $EMU_DIR/force-localhost.js" "$@"
}

ls_up() { curl -sf -m 2 -o /dev/null "$LS_URL/_localstack/health"; }
moto_up() { curl -sf -m 2 -o /dev/null "$MOTO_URL/moto-api/"; }

wait_up() { # check-fn timeout_s pid name
  local end=$(($(date +%s) + $2))
  until "$1"; do
    kill -0 "$3" 2>/dev/null || { log "$4 exited; see $EMU_DIR/logs/$4.log"; tail -n 20 "$EMU_DIR/logs/$4.log" >&2 || true; return 1; }
    [ "$(date +%s)" -lt "$end" ] || { log "timeout waiting for $4; see $EMU_DIR/logs/$4.log"; return 1; }
    sleep 0.5
  done
}

aws_local() {
  env AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
    "$EMU_DIR/ls/bin/aws" --endpoint-url "$LS_URL" "$@"
}

start() {
  if ls_up && moto_up; then
    echo "emulators already running (LocalStack $LS_URL, moto $MOTO_URL)"
    return 0
  fi
  [ -x "$EMU_DIR/ls/bin/python" ] && [ -x "$EMU_DIR/moto/bin/moto_server" ] ||
    { log "not installed: run $0 install"; return 1; }
  setup_dirs
  local ls_pid="" moto_pid=""
  if ! moto_up; then
    "$EMU_DIR/moto/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" > "$EMU_DIR/logs/moto.log" 2>&1 &
    moto_pid=$!
    echo "$moto_pid" > "$EMU_DIR/moto.pid"
  fi
  if ! ls_up; then
    rm -f "$EMU_DIR/logs/localstack.log"
    (ls_env "$EMU_DIR/ls/bin/python" -m localstack.runtime.main) > "$EMU_DIR/logs/localstack.log" 2>&1 &
    ls_pid=$!
    echo "$ls_pid" > "$EMU_DIR/localstack.pid"
  fi
  [ -z "$moto_pid" ] || wait_up moto_up 30 "$moto_pid" moto
  [ -z "$ls_pid" ] || wait_up ls_up 120 "$ls_pid" localstack
  # warm up kinesis-mock (LocalStack starts it lazily on the first Kinesis call)
  aws_local kinesis list-streams > /dev/null
  echo "emulators ready (LocalStack $LS_URL, moto $MOTO_URL)"
}

stop() {
  local n f p
  for n in localstack moto; do
    f=$EMU_DIR/$n.pid
    [ -f "$f" ] || continue
    p=$(cat "$f")
    if kill "$p" 2>/dev/null; then
      for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$p" 2>/dev/null || true
      echo "stopped $n ($p)"
      # LocalStack S3 spools objects here (hard-coded path, ignores TMPDIR)
      [ "$n" != localstack ] || rm -rf /tmp/localstack-s3-storage
    fi
    rm -f "$f"
  done
}

status() {
  local rc=0
  if ls_up; then echo "localstack: up ($LS_URL)"; else echo "localstack: down"; rc=1; fi
  if moto_up; then echo "moto: up ($MOTO_URL)"; else echo "moto: down"; rc=1; fi
  return $rc
}

env_vars() {
  cat <<EOV
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL=$LS_URL
export AWS_ENDPOINT_URL_DYNAMODB=$MOTO_URL
export AWS_EC2_METADATA_DISABLED=true
EOV
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) env_vars ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
