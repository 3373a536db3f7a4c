# Shared by scripts/dev, scripts/test and .ci/run: install and start what Carebook needs.
# Source it; it defines functions and sets a few variables, nothing else.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Build output lives outside the clone so fresh clones (and CI) reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/carebook/target}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# wait_port HOST PORT SECONDS
wait_port() {
  local host=$1 port=$2 deadline=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then return 1; fi
    sleep 0.5
  done
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# Each ensure_* leaves alone a server that already answers on its port (this
# machine's, or a CI service container), installs only what is missing, and
# starts only what is not running.
ensure_postgres() {
  if ! port_open 127.0.0.1 5432; then
    if ! command -v pg_ctlcluster >/dev/null; then log "installing PostgreSQL"; apt_install postgresql; fi
    log "starting PostgreSQL"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  fi
  wait_port 127.0.0.1 5432 60 || { echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2; return 1; }
  # Local development and CI connect as postgres without a password (trust on loopback).
  until psql "postgres://postgres@127.0.0.1:5432/postgres" -qtAc 'select 1' >/dev/null 2>&1; do
    if [ $SECONDS -gt 600 ]; then echo "PostgreSQL refuses connections as postgres@127.0.0.1" >&2; return 1; fi
    sleep 0.5
  done
}

ensure_redis() {
  if ! port_open 127.0.0.1 6379; then
    if ! command -v redis-server >/dev/null; then log "installing Redis"; apt_install redis-server; fi
    log "starting Redis"
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
  fi
  wait_port 127.0.0.1 6379 30 || { echo "Redis did not come up on 127.0.0.1:6379" >&2; return 1; }
}

ensure_rabbitmq() {
  if ! port_open 127.0.0.1 5672; then
    if ! command -v rabbitmq-server >/dev/null; then log "installing RabbitMQ"; apt_install rabbitmq-server; fi
    log "starting RabbitMQ"
    as_root rabbitmq-server -detached
  fi
  wait_port 127.0.0.1 5672 120 || { echo "RabbitMQ did not come up on 127.0.0.1:5672" >&2; return 1; }
}

ensure_backing_services() {
  ensure_postgres
  ensure_redis
  ensure_rabbitmq
}

# tools/: MailDev, the Swagger UI and htmx assets, playwright-core. Reinstalled
# whenever the lockfile is newer than what npm last installed.
ensure_node_tools() {
  if ! command -v npm >/dev/null; then log "installing Node.js"; apt_install nodejs npm; fi
  local installed="$ROOT/tools/node_modules/.package-lock.json"
  if [ ! -f "$installed" ] || [ "$ROOT/tools/package-lock.json" -nt "$installed" ]; then
    log "installing tools/ (npm ci)"
    (cd "$ROOT/tools" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# tools/fhir/: the independent FHIR validator (fhir.resources) and the
# third-party FHIR client (fhirpy) the FHIR system test drives, in a
# virtualenv outside the clone. Reinstalled whenever requirements.txt differs
# from the copy kept in the virtualenv. Exports CAREBOOK_FHIR_PYTHON.
ensure_python_tools() {
  local venv="${CAREBOOK_CACHE_DIR:-$HOME/.cache/carebook}/fhir-venv"
  local requirements="$ROOT/tools/fhir/requirements.txt"
  local installed="$venv/carebook-requirements.txt"
  if [ ! -f "$installed" ] || ! cmp -s "$requirements" "$installed"; then
    log "installing tools/fhir (fhir.resources, fhirpy) into $venv"
    # A virtualenv whose interpreter went away (Python upgraded) is rebuilt.
    "$venv/bin/python" -c '' 2>/dev/null || rm -rf "$venv"
    if [ ! -d "$venv" ]; then
      mkdir -p "$(dirname "$venv")"
      # Debian's python3 lacks venv (ensurepip) until python3-venv is installed.
      python3 -m venv "$venv" 2>/dev/null || {
        rm -rf "$venv"
        apt_install python3 python3-venv
        python3 -m venv "$venv"
      }
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$installed"
  fi
  export CAREBOOK_FHIR_PYTHON="$venv/bin/python"
}

# Debian's Chromium for the browser tests (playwright-core drives it; no browser
# is ever downloaded). CAREBOOK_CHROMIUM names another installed one (CI's Chrome).
ensure_browser() {
  if [ -n "${CAREBOOK_CHROMIUM:-}" ] && [ -x "$CAREBOOK_CHROMIUM" ]; then return; fi
  if [ ! -x /usr/bin/chromium ]; then log "installing Chromium (Debian)"; apt_install chromium; fi
}

# Servers the tests start themselves, beside the shared ones: a private Redis
# (the gateway's outage test).
ensure_test_binaries() {
  command -v redis-server >/dev/null || { log "installing redis-server (for the tests' private Redis)"; apt_install redis-server; }
}

# MailDev: SMTP on 1025, web UI and REST API on 1080.
ensure_maildev() {
  ensure_node_tools
  if ! port_open 127.0.0.1 1025; then
    log "starting MailDev (SMTP :1025, web :1080)"
    mkdir -p "$ROOT/.dev"
    nohup "$ROOT/tools/node_modules/.bin/maildev" --ip 127.0.0.1 --web-ip 127.0.0.1 -s 1025 -w 1080 \
      >"$ROOT/.dev/maildev.log" 2>&1 &
    echo $! >"$ROOT/.dev/maildev.pid"
  fi
  wait_port 127.0.0.1 1025 30 || { echo "MailDev did not come up; see .dev/maildev.log" >&2; return 1; }
}

ensure_rust_tools() {
  command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup first" >&2; return 1; }
  if ! cargo nextest --version >/dev/null 2>&1; then
    log "installing cargo-nextest"
    cargo install --locked cargo-nextest
  fi
}
