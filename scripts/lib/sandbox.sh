# shellcheck shell=bash
# Private backing services, configured as production should be: a PostgreSQL
# cluster, Redis, a RabbitMQ node and MailDev, each speaking TLS only (plain
# text is refused by the server), with certificates from a development CA
# (`carebook certs generate`), and one account per service on each with only
# what it needs (`carebook provision`, `carebook migrate`): no service can read
# another's database, publish another's events or touch another's keys.
#
# Used by scripts/dev (a directory kept between runs), the failure drills
# (scripts/chaos) and the transit check (scripts/transit-check) (a throwaway
# directory). Source it after common.sh; set SANDBOX_BIN to a built carebook
# binary; call `sandbox_up NAME` (NAME prefixes databases, queues, exchange and
# Redis keys), then sandbox_down (trap). The machine's shared services are never
# touched.

SANDBOX_PG_PORT="${SANDBOX_PG_PORT:-25432}"
SANDBOX_REDIS_PORT="${SANDBOX_REDIS_PORT:-26379}"
# The machine's rabbit@localhost uses 25672 for Erlang distribution (5672 + 20000).
SANDBOX_AMQP_PORT="${SANDBOX_AMQP_PORT:-25674}"
SANDBOX_AMQP_DIST_PORT="${SANDBOX_AMQP_DIST_PORT:-25675}"
SANDBOX_RABBIT_HTTP_PORT="${SANDBOX_RABBIT_HTTP_PORT:-25677}"
SANDBOX_RABBIT_NODE="${SANDBOX_RABBIT_NODE:-cbchaos@localhost}"
SANDBOX_SMTP_PORT="${SANDBOX_SMTP_PORT:-25025}"
SANDBOX_MAIL_WEB_PORT="${SANDBOX_MAIL_WEB_PORT:-25080}"
# Extra PostgreSQL settings. The drills and the transit check run without
# fsync (a throwaway cluster); scripts/load --tls keeps it on, as deployed.
SANDBOX_PG_SETTINGS="${SANDBOX_PG_SETTINGS:--c fsync=off}"
# Empty: a fresh temporary directory, deleted by sandbox_down. Set (scripts/dev):
# kept, and reused by the next run (data, certificates, passwords).
SANDBOX_DIR="${SANDBOX_DIR:-}"
SANDBOX_PERSIST=0
[ -n "$SANDBOX_DIR" ] && SANDBOX_PERSIST=1

# Every process with an account of its own on the backing services (fhir has
# none: it keeps nothing and calls only the gateway).
SANDBOX_ACCOUNTS=(identity directory scheduling notifications billing records portal gateway)
# …of which these publish or consume events.
SANDBOX_BROKER_USERS=(identity directory scheduling notifications billing records)

SANDBOX_MAIL_API="http://127.0.0.1:$SANDBOX_MAIL_WEB_PORT/api"
SANDBOX_RABBIT_API="https://127.0.0.1:$SANDBOX_RABBIT_HTTP_PORT/api"

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

sandbox_ca() { echo "$SANDBOX_DIR/certs/ca.pem"; }

# ---- certificates and passwords ----------------------------------------------

sandbox_certs() {
  : "${SANDBOX_BIN:?set SANDBOX_BIN to a built carebook binary}"
  "$SANDBOX_BIN" certs generate --dir "$SANDBOX_DIR/certs" >"$SANDBOX_DIR/certs.log"
}

# One random password per account, made once and kept with the directory.
sandbox_secrets() {
  local file="$SANDBOX_DIR/secrets.env" name
  if [ ! -f "$file" ]; then
    (
      umask 077
      for name in postgres amqp_admin redis_admin "${SANDBOX_ACCOUNTS[@]}"; do
        echo "SANDBOX_PW_${name^^}=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      done >"$file"
    )
  fi
  # shellcheck disable=SC1090
  source "$file"
}

# The password of account $1.
sandbox_pw() { local v="SANDBOX_PW_${1^^}"; echo "${!v}"; }

# Export what every process and admin command reads: names under NAME, each
# service's own URLs (its account, TLS), the admin URLs, the TLS and SMTP settings.
sandbox_export() {
  local name=$1 svc
  SANDBOX_NAME=$name
  export CAREBOOK_TLS=required
  export CAREBOOK_TLS_DIR="$SANDBOX_DIR/certs"
  export CAREBOOK_EVENTS_EXCHANGE="$name.events"
  export CAREBOOK_QUEUE_PREFIX=$name
  export CAREBOOK_REDIS_PREFIX="$name:"
  export CAREBOOK_POSTGRES_ADMIN_URL="postgres://postgres:$(sandbox_pw postgres)@127.0.0.1:$SANDBOX_PG_PORT/postgres?sslmode=verify-full&sslrootcert=$(sandbox_ca)"
  export CAREBOOK_AMQP_ADMIN_URL="amqps://carebook_admin:$(sandbox_pw amqp_admin)@127.0.0.1:$SANDBOX_AMQP_PORT/%2f"
  export CAREBOOK_REDIS_ADMIN_URL="rediss://carebook_admin:$(sandbox_pw redis_admin)@127.0.0.1:$SANDBOX_REDIS_PORT"
  for svc in "${SANDBOX_ACCOUNTS[@]}"; do
    export "${svc^^}_DATABASE_URL=postgres://carebook_$svc:$(sandbox_pw "$svc")@127.0.0.1:$SANDBOX_PG_PORT/${name}_$svc"
    export "${svc^^}_REDIS_URL=rediss://carebook_$svc:$(sandbox_pw "$svc")@127.0.0.1:$SANDBOX_REDIS_PORT"
    export "${svc^^}_AMQP_URL=amqps://carebook_$svc:$(sandbox_pw "$svc")@127.0.0.1:$SANDBOX_AMQP_PORT/%2f"
  done
  export CAREBOOK_SMTP_HOST=127.0.0.1 CAREBOOK_SMTP_PORT=$SANDBOX_SMTP_PORT
  export CAREBOOK_SMTP_TLS=tls CAREBOOK_SMTP_CA_FILE
  CAREBOOK_SMTP_CA_FILE=$(sandbox_ca)
}

# ---- PostgreSQL ------------------------------------------------------------

pg_bin() { find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1; }

# PostgreSQL refuses to run as root: run its tools as the postgres OS user then.
as_pg_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

sandbox_start_postgres() {
  as_pg_owner "$(pg_bin)/pg_ctl" -D "$SANDBOX_DIR/pg/data" -l "$SANDBOX_DIR/pg/server.log" -w -t 60 \
    -o "-p $SANDBOX_PG_PORT -k $SANDBOX_DIR/pg -c listen_addresses=127.0.0.1 -c max_connections=400 $SANDBOX_PG_SETTINGS" \
    start >/dev/null || { echo "private PostgreSQL did not start; see $SANDBOX_DIR/pg/server.log" >&2; return 1; }
}

# Immediate mode: no checkpoint, clients cut off, crash recovery on the next start.
sandbox_stop_postgres() {
  as_pg_owner "$(pg_bin)/pg_ctl" -D "$SANDBOX_DIR/pg/data" -m immediate -w -t 30 stop >/dev/null
}

# sandbox_pg DATABASE PSQL-ARGS...: psql as the cluster's admin, over TLS.
sandbox_pg() {
  local db=$1
  shift
  PGPASSWORD=$(sandbox_pw postgres) PGSSLMODE=verify-full PGSSLROOTCERT=$(sandbox_ca) \
    psql "postgres://postgres@127.0.0.1:$SANDBOX_PG_PORT/$db" -X -qtA -v ON_ERROR_STOP=1 "$@"
}

sandbox_psql() { sandbox_pg "$1" -c "$2"; }

# A new cluster: passwords (SCRAM) for everyone, TLS on, and a pg_hba that
# accepts only TLS connections over TCP.
sandbox_postgres_init() {
  local pg="$SANDBOX_DIR/pg"
  mkdir -p "$pg"
  (umask 077 && sandbox_pw postgres >"$pg/pwfile")
  cp "$SANDBOX_DIR/certs/postgres.pem" "$pg/server.crt"
  cp "$SANDBOX_DIR/certs/postgres-key.pem" "$pg/server.key"
  chmod 600 "$pg/server.key"
  if [ "$(id -u)" = 0 ]; then chown -R postgres "$pg"; fi
  as_pg_owner "$(pg_bin)/initdb" -D "$pg/data" -U postgres --auth=scram-sha-256 --pwfile="$pg/pwfile" \
    -E UTF8 --no-sync >"$pg/initdb.log" 2>&1 || { echo "initdb failed; see $pg/initdb.log" >&2; return 1; }
  rm -f "$pg/pwfile"
  cat >>"$pg/data/postgresql.conf" <<EOF
ssl = on
ssl_cert_file = '$pg/server.crt'
ssl_key_file = '$pg/server.key'
ssl_min_protocol_version = 'TLSv1.2'
password_encryption = 'scram-sha-256'
EOF
  cat >"$pg/data/pg_hba.conf" <<'EOF'
# TLS only over TCP, passwords (SCRAM) for everyone; plain text is refused.
local     all  all                scram-sha-256
hostssl   all  all  127.0.0.1/32  scram-sha-256
hostssl   all  all  ::1/128       scram-sha-256
hostnossl all  all  all           reject
EOF
}

sandbox_postgres_up() {
  [ -f "$SANDBOX_DIR/pg/data/PG_VERSION" ] || sandbox_postgres_init
  # Certificates renewed since: the server takes the current ones at start.
  cp "$SANDBOX_DIR/certs/postgres.pem" "$SANDBOX_DIR/pg/server.crt"
  cp "$SANDBOX_DIR/certs/postgres-key.pem" "$SANDBOX_DIR/pg/server.key"
  if [ "$(id -u)" = 0 ]; then chown postgres "$SANDBOX_DIR/pg/server.crt" "$SANDBOX_DIR/pg/server.key"; fi
  sandbox_start_postgres
}

# ---- Redis -------------------------------------------------------------------

# sandbox_redis_cli ARGS...: redis-cli as the admin, over TLS.
sandbox_redis_cli() {
  REDISCLI_AUTH=$(sandbox_pw redis_admin) redis-cli --tls --cacert "$(sandbox_ca)" \
    -h 127.0.0.1 -p "$SANDBOX_REDIS_PORT" --user carebook_admin --no-auth-warning "$@"
}

sandbox_start_redis() {
  redis-server --bind 127.0.0.1 --port 0 --tls-port "$SANDBOX_REDIS_PORT" \
    --tls-cert-file "$SANDBOX_DIR/certs/redis.pem" --tls-key-file "$SANDBOX_DIR/certs/redis-key.pem" \
    --tls-ca-cert-file "$(sandbox_ca)" --tls-auth-clients no \
    --aclfile "$SANDBOX_DIR/redis/users.acl" \
    --save "" --appendonly no --daemonize yes --pidfile "$SANDBOX_DIR/redis/redis.pid" \
    --dir "$SANDBOX_DIR/redis" --logfile "$SANDBOX_DIR/redis/redis.log"
  wait_until 15 "private Redis on :$SANDBOX_REDIS_PORT" sandbox_redis_cli ping
}

sandbox_stop_redis() {
  local pid
  pid=$(cat "$SANDBOX_DIR/redis/redis.pid" 2>/dev/null) || pid=""
  sandbox_redis_cli shutdown nosave >/dev/null 2>&1 || true
  [ -n "$pid" ] || return 0
  wait_until 10 "private Redis to stop" sh -c "! kill -0 $pid 2>/dev/null"
}

sandbox_redis_up() {
  mkdir -p "$SANDBOX_DIR/redis"
  "$SANDBOX_BIN" provision redis --out "$SANDBOX_DIR/redis/users.acl" >/dev/null
  sandbox_start_redis
}

# ---- RabbitMQ ----------------------------------------------------------------

# A second node: its own name, ports, data, logs, Erlang cookie (HOME) and
# configuration, so rabbit@localhost is never touched. Only an `amqps://`
# listener; the management plugin over HTTPS gives the drills an API to publish
# the poison message and count queues.
rabbit_env() {
  env HOME="$SANDBOX_DIR/rabbit/home" \
    RABBITMQ_CONF_ENV_FILE="$SANDBOX_DIR/rabbit/rabbitmq-env.conf" \
    RABBITMQ_CONFIG_FILE="$SANDBOX_DIR/rabbit/rabbitmq.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$SANDBOX_DIR/rabbit/enabled_plugins" \
    RABBITMQ_NODENAME="$SANDBOX_RABBIT_NODE" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
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
  wait_until 30 "private RabbitMQ's HTTP API" sandbox_rabbit_api GET overview
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
  local r="$SANDBOX_DIR/rabbit" certs="$SANDBOX_DIR/certs"
  mkdir -p "$r/home" "$r/mnesia" "$r/log"
  : >"$r/rabbitmq-env.conf"
  echo '[rabbitmq_management].' >"$r/enabled_plugins"
  cat >"$r/rabbitmq.conf" <<EOF
listeners.tcp = none
listeners.ssl.default = 127.0.0.1:$SANDBOX_AMQP_PORT
ssl_options.cacertfile = $certs/ca.pem
ssl_options.certfile = $certs/rabbitmq.pem
ssl_options.keyfile = $certs/rabbitmq-key.pem
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
ssl_options.versions.1 = tlsv1.3
ssl_options.versions.2 = tlsv1.2
management.ssl.ip = 127.0.0.1
management.ssl.port = $SANDBOX_RABBIT_HTTP_PORT
management.ssl.cacertfile = $certs/ca.pem
management.ssl.certfile = $certs/rabbitmq.pem
management.ssl.keyfile = $certs/rabbitmq-key.pem
EOF
  # Users and their permissions from the event contracts; the node's default
  # guest account goes.
  "$SANDBOX_BIN" provision rabbitmq --out "$r/definitions.json" >/dev/null
  rm -f "$r/beam.pid"
  rabbit_env "$(rabbit_tool rabbitmq-server)" >>"$r/server.log" 2>&1 &
  sandbox_rabbitmqctl wait --timeout 90 "$r/beam.pid" >/dev/null 2>&1 ||
    { echo "private RabbitMQ did not start; see $r/server.log" >&2; return 1; }
  sandbox_rabbitmqctl import_definitions "$r/definitions.json" >/dev/null
  sandbox_rabbitmqctl delete_user guest >/dev/null 2>&1 || true
  wait_until 30 "private RabbitMQ's HTTP API" sandbox_rabbit_api GET overview
}

# sandbox_rabbit_api METHOD PATH [CURL-ARGS...]: the private node's management API, as its admin.
sandbox_rabbit_api() {
  local method=$1 path=$2
  shift 2
  curl -sf --cacert "$(sandbox_ca)" -u "carebook_admin:$(sandbox_pw amqp_admin)" -X "$method" \
    -H 'content-type: application/json' "$SANDBOX_RABBIT_API/$path" "$@"
}

# ---- MailDev -------------------------------------------------------------------

# SMTP with implicit TLS (the sink's own certificate); its own mail directory
# (without one MailDev writes to the machine-wide /tmp/maildev). Its web UI and
# REST API, for the developer and the checks, stay on loopback HTTP.
sandbox_maildev_up() {
  ensure_node_tools
  mkdir -p "$SANDBOX_DIR/mail"
  nohup "$ROOT/tools/node_modules/.bin/maildev" --ip 127.0.0.1 --web-ip 127.0.0.1 \
    -s "$SANDBOX_SMTP_PORT" -w "$SANDBOX_MAIL_WEB_PORT" --mail-directory "$SANDBOX_DIR/mail" \
    --incoming-secure --incoming-cert "$SANDBOX_DIR/certs/smtp.pem" --incoming-key "$SANDBOX_DIR/certs/smtp-key.pem" \
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

# sandbox_up NAME: certificates, passwords, every server up with TLS only and
# one account per service; exports what the processes read (sandbox_export).
# `carebook migrate` then creates each service's role and database.
sandbox_up() {
  local name=${1:?sandbox_up NAME}
  sandbox_ports_free
  if [ -z "$SANDBOX_DIR" ]; then
    SANDBOX_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cbsandbox.XXXXXX")
  fi
  mkdir -p "$SANDBOX_DIR"
  chmod 755 "$SANDBOX_DIR"
  log "private backing services (TLS only) under $SANDBOX_DIR"
  sandbox_certs
  sandbox_secrets
  sandbox_export "$name"
  sandbox_postgres_up
  sandbox_redis_up
  sandbox_rabbitmq_up
  sandbox_maildev_up
}

# Stop everything sandbox_up started; delete its directory unless it is kept
# (scripts/dev's, or SANDBOX_KEEP=1 for a failed run's logs). Safe to call twice.
sandbox_down() {
  [ -n "$SANDBOX_DIR" ] && [ -d "$SANDBOX_DIR" ] || return 0
  sandbox_stop_rabbitmq || true
  if pid_alive "$SANDBOX_DIR/maildev.pid"; then kill "$(cat "$SANDBOX_DIR/maildev.pid")" 2>/dev/null || true; fi
  if pid_alive "$SANDBOX_DIR/redis/redis.pid"; then sandbox_redis_cli shutdown nosave >/dev/null 2>&1 || true; fi
  if [ -s "$SANDBOX_DIR/pg/data/postmaster.pid" ]; then
    if [ "$SANDBOX_PERSIST" = 1 ]; then
      as_pg_owner "$(pg_bin)/pg_ctl" -D "$SANDBOX_DIR/pg/data" -m fast -w -t 30 stop >/dev/null || true
    else
      sandbox_stop_postgres || true
    fi
  fi
  # Give the killed processes a moment to release their files, then remove them.
  sleep 0.5
  if [ "$SANDBOX_PERSIST" = 1 ]; then
    :
  elif [ "${SANDBOX_KEEP:-0}" = 1 ]; then
    echo "kept $SANDBOX_DIR (SANDBOX_KEEP=1)" >&2
  else
    rm -rf "$SANDBOX_DIR"
  fi
  [ "$SANDBOX_PERSIST" = 1 ] || SANDBOX_DIR=""
}
