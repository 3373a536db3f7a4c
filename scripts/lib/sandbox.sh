# shellcheck shell=bash
# Private backing services for the failure drills (scripts/chaos): a throwaway
# PostgreSQL cluster, Redis, a second RabbitMQ node and MailDev, all under one
# temporary directory and on their own ports, so the drills can kill and restore
# them without touching the machine's shared services (which the test suite and
# CI use). Source it after common.sh; call sandbox_up, then sandbox_down (trap).

SANDBOX_PG_PORT="${SANDBOX_PG_PORT:-25432}"
SANDBOX_REDIS_PORT="${SANDBOX_REDIS_PORT:-26379}"
# The machine's rabbit@localhost uses 25672 for Erlang distribution (5672 + 20000).
SANDBOX_AMQP_PORT="${SANDBOX_AMQP_PORT:-25674}"
SANDBOX_AMQP_DIST_PORT="${SANDBOX_AMQP_DIST_PORT:-25675}"
SANDBOX_RABBIT_HTTP_PORT="${SANDBOX_RABBIT_HTTP_PORT:-25677}"
SANDBOX_RABBIT_NODE="${SANDBOX_RABBIT_NODE:-cbchaos@localhost}"
SANDBOX_SMTP_PORT="${SANDBOX_SMTP_PORT:-25025}"
SANDBOX_MAIL_WEB_PORT="${SANDBOX_MAIL_WEB_PORT:-25080}"
SANDBOX_DIR=""

SANDBOX_PG_URL="postgres://postgres@127.0.0.1:$SANDBOX_PG_PORT"
SANDBOX_REDIS_URL="redis://127.0.0.1:$SANDBOX_REDIS_PORT"
SANDBOX_AMQP_URL="amqp://guest:guest@127.0.0.1:$SANDBOX_AMQP_PORT/%2f"
SANDBOX_RABBIT_API="http://127.0.0.1:$SANDBOX_RABBIT_HTTP_PORT/api"
SANDBOX_MAIL_API="http://127.0.0.1:$SANDBOX_MAIL_WEB_PORT/api"

# wait_until SECONDS WHAT COMMAND...: poll COMMAND every 0.2 s; fail with a message.
wait_until() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "timed out waiting for $what" >&2
      return 1
    fi
    sleep 0.2
  done
}

# The directory's pid file names a live process.
pid_alive() { [ -s "$1" ] && kill -0 "$(head -1 "$1")" 2>/dev/null; }

# ---- PostgreSQL ------------------------------------------------------------

pg_bin() { find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1; }

# PostgreSQL refuses to run as root: run its tools as the postgres OS user then.
as_pg_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

sandbox_start_postgres() {
  as_pg_owner "$(pg_bin)/pg_ctl" -D "$SANDBOX_DIR/pg/data" -l "$SANDBOX_DIR/pg/server.log" -w -t 60 \
    -o "-p $SANDBOX_PG_PORT -k $SANDBOX_DIR/pg -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off" \
    start >/dev/null || { echo "private PostgreSQL did not start; see $SANDBOX_DIR/pg/server.log" >&2; return 1; }
}

# Immediate mode: no checkpoint, clients cut off, crash recovery on the next start.
sandbox_stop_postgres() {
  as_pg_owner "$(pg_bin)/pg_ctl" -D "$SANDBOX_DIR/pg/data" -m immediate -w -t 30 stop >/dev/null
}

sandbox_psql() { psql "$SANDBOX_PG_URL/$1" -X -qtA -v ON_ERROR_STOP=1 -c "$2"; }

sandbox_postgres_up() {
  mkdir -p "$SANDBOX_DIR/pg"
  if [ "$(id -u)" = 0 ]; then chown postgres "$SANDBOX_DIR/pg"; fi
  as_pg_owner "$(pg_bin)/initdb" -D "$SANDBOX_DIR/pg/data" -U postgres -A trust -E UTF8 --no-sync \
    >"$SANDBOX_DIR/pg/initdb.log" 2>&1 || { echo "initdb failed; see $SANDBOX_DIR/pg/initdb.log" >&2; return 1; }
  sandbox_start_postgres
}

# ---- Redis -------------------------------------------------------------------

sandbox_start_redis() {
  redis-server --bind 127.0.0.1 --port "$SANDBOX_REDIS_PORT" --save "" --appendonly no \
    --daemonize yes --pidfile "$SANDBOX_DIR/redis.pid" --dir "$SANDBOX_DIR" \
    --logfile "$SANDBOX_DIR/redis.log"
  wait_until 15 "private Redis on :$SANDBOX_REDIS_PORT" redis-cli -p "$SANDBOX_REDIS_PORT" ping
}

sandbox_stop_redis() {
  redis-cli -p "$SANDBOX_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  wait_until 10 "private Redis to stop" sh -c "! redis-cli -p $SANDBOX_REDIS_PORT ping"
}

# ---- RabbitMQ ----------------------------------------------------------------

# A second node: its own name, ports, data, logs, Erlang cookie (HOME) and
# configuration, so rabbit@localhost is never touched. The management plugin
# gives the drills an HTTP API to publish the poison message and count queues.
rabbit_env() {
  env HOME="$SANDBOX_DIR/rabbit/home" \
    RABBITMQ_CONF_ENV_FILE="$SANDBOX_DIR/rabbit/rabbitmq-env.conf" \
    RABBITMQ_CONFIG_FILE="$SANDBOX_DIR/rabbit/rabbitmq.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$SANDBOX_DIR/rabbit/enabled_plugins" \
    RABBITMQ_NODENAME="$SANDBOX_RABBIT_NODE" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$SANDBOX_AMQP_PORT" \
    RABBITMQ_DIST_PORT="$SANDBOX_AMQP_DIST_PORT" \
    RABBITMQ_MNESIA_BASE="$SANDBOX_DIR/rabbit/mnesia" \
    RABBITMQ_LOG_BASE="$SANDBOX_DIR/rabbit/log" \
    RABBITMQ_PID_FILE="$SANDBOX_DIR/rabbit/beam.pid" \
    ERL_EPMD_ADDRESS=127.0.0.1 \
    ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    "$@"
}

rabbit_tool() { echo "/usr/lib/rabbitmq/bin/$1"; }

sandbox_rabbitmqctl() { rabbit_env "$(rabbit_tool rabbitmqctl)" -n "$SANDBOX_RABBIT_NODE" "$@"; }

sandbox_start_rabbitmq() {
  rm -f "$SANDBOX_DIR/rabbit/beam.pid"
  rabbit_env "$(rabbit_tool rabbitmq-server)" >>"$SANDBOX_DIR/rabbit/server.log" 2>&1 &
  # `wait` blocks until the node booted or its process died.
  sandbox_rabbitmqctl wait --timeout 90 "$SANDBOX_DIR/rabbit/beam.pid" >/dev/null 2>&1 ||
    { echo "private RabbitMQ did not start; see $SANDBOX_DIR/rabbit/server.log" >&2; return 1; }
  wait_until 30 "private RabbitMQ's HTTP API" curl -sf -u guest:guest "$SANDBOX_RABBIT_API/overview"
}

# kill -9 the node's Erlang VM: no clean shutdown, connections reset.
sandbox_kill_rabbitmq() {
  local pid
  pid=$(head -1 "$SANDBOX_DIR/rabbit/beam.pid")
  kill -9 "$pid"
  wait_until 10 "private RabbitMQ to die" sh -c "! kill -0 $pid"
}

sandbox_stop_rabbitmq() {
  if pid_alive "$SANDBOX_DIR/rabbit/beam.pid"; then
    sandbox_rabbitmqctl stop >/dev/null 2>&1 || sandbox_kill_rabbitmq
  fi
}

sandbox_rabbitmq_up() {
  mkdir -p "$SANDBOX_DIR/rabbit/home" "$SANDBOX_DIR/rabbit/mnesia" "$SANDBOX_DIR/rabbit/log"
  : >"$SANDBOX_DIR/rabbit/rabbitmq-env.conf"
  echo '[rabbitmq_management].' >"$SANDBOX_DIR/rabbit/enabled_plugins"
  cat >"$SANDBOX_DIR/rabbit/rabbitmq.conf" <<EOF
loopback_users = none
management.tcp.ip = 127.0.0.1
management.tcp.port = $SANDBOX_RABBIT_HTTP_PORT
EOF
  sandbox_start_rabbitmq
}

# GET/POST on the private node's management API.
sandbox_rabbit_api() {
  local method=$1 path=$2
  shift 2
  curl -sf -u guest:guest -X "$method" -H 'content-type: application/json' "$SANDBOX_RABBIT_API/$path" "$@"
}

# ---- MailDev -------------------------------------------------------------------

# Its own mail directory: without one MailDev writes to the machine-wide /tmp/maildev.
sandbox_maildev_up() {
  ensure_node_tools
  nohup "$ROOT/tools/node_modules/.bin/maildev" --ip 127.0.0.1 --web-ip 127.0.0.1 \
    -s "$SANDBOX_SMTP_PORT" -w "$SANDBOX_MAIL_WEB_PORT" --mail-directory "$SANDBOX_DIR/mail" \
    >"$SANDBOX_DIR/maildev.log" 2>&1 &
  echo $! >"$SANDBOX_DIR/maildev.pid"
  wait_until 30 "MailDev on :$SANDBOX_MAIL_WEB_PORT" curl -sf "$SANDBOX_MAIL_API/email"
}

# ---- all of it -------------------------------------------------------------------

# Install the servers when missing (their packages also start the machine's own
# instances, which the sandbox leaves alone).
sandbox_install() {
  if [ ! -x "$(pg_bin)/initdb" ]; then log "installing PostgreSQL"; apt_install postgresql; fi
  command -v redis-server >/dev/null || { log "installing Redis"; apt_install redis-server; }
  [ -x "$(rabbit_tool rabbitmq-server)" ] || { log "installing RabbitMQ"; apt_install rabbitmq-server; }
  command -v curl >/dev/null || apt_install curl
  command -v psql >/dev/null || apt_install postgresql-client
}

sandbox_ports_free() {
  local port busy=0
  for port in "$SANDBOX_PG_PORT" "$SANDBOX_REDIS_PORT" "$SANDBOX_AMQP_PORT" "$SANDBOX_AMQP_DIST_PORT" \
    "$SANDBOX_RABBIT_HTTP_PORT" "$SANDBOX_SMTP_PORT" "$SANDBOX_MAIL_WEB_PORT"; do
    if port_open 127.0.0.1 "$port"; then echo "port $port is already in use (a previous run left something behind?)" >&2; busy=1; fi
  done
  return $busy
}

# Start everything; export the variables the services read to find it.
sandbox_up() {
  sandbox_ports_free
  SANDBOX_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cbchaos.XXXXXX")
  chmod 755 "$SANDBOX_DIR"
  log "private backing services under $SANDBOX_DIR"
  sandbox_postgres_up
  sandbox_start_redis
  sandbox_rabbitmq_up
  sandbox_maildev_up
  export CAREBOOK_POSTGRES_URL="$SANDBOX_PG_URL"
  export CAREBOOK_REDIS_URL="$SANDBOX_REDIS_URL"
  export CAREBOOK_AMQP_URL="$SANDBOX_AMQP_URL"
  export CAREBOOK_SMTP_HOST=127.0.0.1 CAREBOOK_SMTP_PORT="$SANDBOX_SMTP_PORT"
}

# Stop everything sandbox_up started and delete its directory (kept, logs and
# all, when SANDBOX_KEEP=1). Safe to call twice.
sandbox_down() {
  [ -n "$SANDBOX_DIR" ] && [ -d "$SANDBOX_DIR" ] || return 0
  sandbox_stop_rabbitmq || true
  if pid_alive "$SANDBOX_DIR/maildev.pid"; then kill "$(cat "$SANDBOX_DIR/maildev.pid")" 2>/dev/null || true; fi
  if pid_alive "$SANDBOX_DIR/redis.pid"; then redis-cli -p "$SANDBOX_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; fi
  if [ -s "$SANDBOX_DIR/pg/data/postmaster.pid" ]; then sandbox_stop_postgres || true; fi
  # Give the killed processes a moment to release their files, then remove them.
  sleep 0.5
  if [ "${SANDBOX_KEEP:-0}" = 1 ]; then
    echo "kept $SANDBOX_DIR (SANDBOX_KEEP=1)" >&2
  else
    rm -rf "$SANDBOX_DIR"
  fi
  SANDBOX_DIR=""
}
