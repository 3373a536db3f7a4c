# shellcheck shell=bash
# Run the real Carebook system as separate processes (one per service replica
# plus the gateway) from a built `carebook` binary, isolated from other stacks
# on the same PostgreSQL, Redis and RabbitMQ by a name prefix and a port range.
# Source it (after scripts/lib/common.sh), set the STACK_* variables, then:
#
#   stack_init          # stack_env, generate keys, migrate, seed the demo clinic
#   stack_env           # only derive and export the env (to attach to a running stack)
#   stack_start_all     # every replica of every service, then the gateway; waits for /readyz
#   stack_pids          # "service replica pid" per running process
#   stack_kill scheduling 2 KILL; stack_start scheduling 2
#   stack_stop          # SIGTERM everything, wait until it has exited
#   stack_destroy       # stop, then drop the databases, queues, exchanges and Redis keys
#
# Settings (set before stack_init; defaults in brackets):
#   STACK_BIN        the carebook binary (required; copy it out of the shared target dir)
#   STACK_PREFIX     names: databases <prefix>_<service>, exchange <prefix>.events,
#                    queues <prefix>.*, Redis keys <prefix>:* (required, [a-z0-9_])
#   STACK_PORT_BASE  first port of a range of 100: gateway on BASE, replica r (1-based)
#                    of the i-th service (identity, directory, scheduling, notifications,
#                    billing, records) on BASE + 10*i + r - 1; BASE+90.. are free for
#                    the caller (e.g. an SMTP sink) (required)
#   STACK_REPLICAS   replicas of every service [1], at most 9
#   STACK_DIR        keys, logs and pid files [$ROOT/.stack/$STACK_PREFIX]
#   STACK_POSTGRES_URL [postgres://postgres@127.0.0.1:5432], STACK_REDIS_URL
#   [redis://127.0.0.1:6379], STACK_AMQP_URL [amqp://guest:guest@127.0.0.1:5672/%2f]
#   STACK_SMTP_HOST [127.0.0.1], STACK_SMTP_PORT [BASE+90]
#   STACK_CPUS       CPU list every server process is pinned to (taskset -c), empty: none
#   STACK_READY_SECONDS how long to wait for one process's /readyz [60]
#   STACK_TLS        1: the backing services are a sandbox (scripts/lib/sandbox.sh,
#                    `sandbox_up $STACK_PREFIX` ran first and exported every service's
#                    own URLs and CAREBOOK_TLS_DIR): services serve mTLS, the gateway
#                    reaches them over https and offers its internal mTLS listener on
#                    BASE+1, which is also where the JWKS is fetched. 0 [default]: plain
#                    text on the shared servers above (CAREBOOK_TLS=off).
#
# Any other setting (GATEWAY_RATE_API, CAREBOOK_DATABASE_MAX_CONNECTIONS, ...) is
# read by the processes from the caller's exported environment.
# The portal and fhir (clients of the gateway, no database) are not run here:
# a caller sets GATEWAY_UPSTREAMS_PORTAL and GATEWAY_UPSTREAMS_FHIR to unused
# ports of its range, so the gateway never reaches the conventional 8087/8088
# of another stack on the machine.
# Deleting exchanges needs `rabbitmqctl` on this machine (it talks to the local node).

STACK_SERVICES=(identity directory scheduling notifications billing records)

# Port of replica $2 (1-based) of service $1; `gateway` has one, on the base port.
stack_port() {
  local svc=$1 replica=${2:-1} i
  if [ "$svc" = gateway ]; then echo "$STACK_PORT_BASE"; return; fi
  for i in "${!STACK_SERVICES[@]}"; do
    if [ "${STACK_SERVICES[$i]}" = "$svc" ]; then
      echo $((STACK_PORT_BASE + 10 * (i + 1) + replica - 1))
      return
    fi
  done
  echo "stack: unknown service $svc" >&2
  return 1
}

# URL of replica $2 of service $1: https with TLS (mTLS), except the gateway's
# public port, which is plain http in development.
stack_url() {
  local scheme=http
  [ "${STACK_TLS:-0}" = 1 ] && [ "$1" != gateway ] && scheme=https
  echo "$scheme://127.0.0.1:$(stack_port "$@")"
}

# curl ARGS... as an internal client (the gateway's certificate) when TLS is on.
stack_curl() {
  if [ "${STACK_TLS:-0}" = 1 ]; then
    curl --cacert "$CAREBOOK_TLS_DIR/ca.pem" --cert "$CAREBOOK_TLS_DIR/gateway.pem" \
      --key "$CAREBOOK_TLS_DIR/gateway-key.pem" "$@"
  else
    curl "$@"
  fi
}

# Base URLs of every replica of service $1, comma-separated.
stack_replica_urls() {
  local svc=$1 r urls=()
  for ((r = 1; r <= STACK_REPLICAS; r++)); do urls+=("$(stack_url "$svc" "$r")"); done
  local IFS=,
  echo "${urls[*]}"
}

# Derive and export the environment every process shares (also how another
# shell attaches to a running stack: same STACK_* settings, then stack_env).
stack_env() {
  : "${STACK_BIN:?set STACK_BIN to a built carebook binary}"
  : "${STACK_PREFIX:?set STACK_PREFIX (names of databases, queues, keys)}"
  : "${STACK_PORT_BASE:?set STACK_PORT_BASE (first of 100 ports)}"
  STACK_REPLICAS=${STACK_REPLICAS:-1}
  STACK_DIR=${STACK_DIR:-$ROOT/.stack/$STACK_PREFIX}
  STACK_POSTGRES_URL=${STACK_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
  STACK_REDIS_URL=${STACK_REDIS_URL:-redis://127.0.0.1:6379}
  STACK_AMQP_URL=${STACK_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
  STACK_SMTP_HOST=${STACK_SMTP_HOST:-127.0.0.1}
  STACK_SMTP_PORT=${STACK_SMTP_PORT:-$((STACK_PORT_BASE + 90))}
  STACK_READY_SECONDS=${STACK_READY_SECONDS:-60}
  STACK_CPUS=${STACK_CPUS:-}
  if ! [[ $STACK_PREFIX =~ ^[a-z0-9_]+$ ]]; then
    echo "stack: STACK_PREFIX must be [a-z0-9_]+" >&2; return 1
  fi
  if [ "$STACK_REPLICAS" -lt 1 ] || [ "$STACK_REPLICAS" -gt 9 ]; then
    echo "stack: STACK_REPLICAS must be 1..9" >&2; return 1
  fi
  mkdir -p "$STACK_DIR/logs" "$STACK_DIR/pids"

  export CAREBOOK_EVENTS_EXCHANGE="$STACK_PREFIX.events"
  export CAREBOOK_QUEUE_PREFIX=$STACK_PREFIX
  export CAREBOOK_REDIS_PREFIX="$STACK_PREFIX:"
  # Through the gateway, so a token check survives any one identity replica's death.
  export CAREBOOK_JWKS_URL
  if [ "${STACK_TLS:-0}" = 1 ]; then
    : "${CAREBOOK_TLS_DIR:?STACK_TLS=1 needs the environment sandbox_up exports}"
    export GATEWAY_INTERNAL_BIND="127.0.0.1:$((STACK_PORT_BASE + 1))"
    CAREBOOK_JWKS_URL="https://127.0.0.1:$((STACK_PORT_BASE + 1))/.well-known/jwks.json"
  else
    export CAREBOOK_TLS=off
    export CAREBOOK_POSTGRES_URL=$STACK_POSTGRES_URL
    export CAREBOOK_REDIS_URL=$STACK_REDIS_URL
    export CAREBOOK_AMQP_URL=$STACK_AMQP_URL
    # Every service publishes as the one broker account: consumers must know.
    CAREBOOK_AMQP_SHARED_PUBLISHER=$(printf '%s' "$STACK_AMQP_URL" | sed -E 's#^amqps?://([^:@/]+).*#\1#')
    export CAREBOOK_AMQP_SHARED_PUBLISHER
    export CAREBOOK_SMTP_HOST=$STACK_SMTP_HOST
    export CAREBOOK_SMTP_PORT=$STACK_SMTP_PORT
    CAREBOOK_JWKS_URL="$(stack_url gateway)/.well-known/jwks.json"
  fi
  export IDENTITY_SIGNING_KEYS_DIR="$STACK_DIR/keys"
  export RECORDS_MASTER_KEYS_DIR="$STACK_DIR/records-keys"
  # Every scheduling replica signs self-service links with the same key.
  mkdir -p "$STACK_DIR"
  [ -s "$STACK_DIR/scheduling-link.key" ] || (umask 077 && head -c32 /dev/urandom | base64 >"$STACK_DIR/scheduling-link.key")
  export SCHEDULING_LINK_KEY="$(cat "$STACK_DIR/scheduling-link.key")"
  export GATEWAY_DOCS_DIR="$ROOT/tools/node_modules/swagger-ui-dist"
  # glibc malloc as the images run it (Dockerfile): few arenas, and large blocks
  # (argon2's 19 MiB) mapped and returned at once instead of kept in an arena.
  export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
  export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-1048576}
  for svc in "${STACK_SERVICES[@]}"; do
    # With TLS the sandbox exported each service's own database URL (its role).
    [ "${STACK_TLS:-0}" = 1 ] || export "${svc^^}_DATABASE_URL=${STACK_POSTGRES_URL%/}/${STACK_PREFIX}_$svc"
    export "GATEWAY_UPSTREAMS_${svc^^}=$(stack_replica_urls "$svc")"
  done
  GATEWAY_BIND="127.0.0.1:$(stack_port gateway)"
  export GATEWAY_BIND
}

# stack_env, check the ports are free, then generate keys, migrate and seed the
# demo clinic.
stack_init() {
  stack_env || return 1
  local svc p r
  for svc in gateway "${STACK_SERVICES[@]}"; do
    for ((r = 1; r <= STACK_REPLICAS; r++)); do
      p=$(stack_port "$svc" "$r")
      if port_open 127.0.0.1 "$p"; then echo "stack: port $p is in use" >&2; return 1; fi
      [ "$svc" = gateway ] && break
    done
  done
  "$STACK_BIN" keys generate --if-missing >/dev/null
  "$STACK_BIN" keys generate-records --if-missing >/dev/null
  "$STACK_BIN" migrate all >"$STACK_DIR/logs/migrate.log" 2>&1 \
    || { echo "stack: migrate failed, see $STACK_DIR/logs/migrate.log" >&2; return 1; }
  "$STACK_BIN" seed-demo >"$STACK_DIR/logs/seed.log" 2>&1 \
    || { echo "stack: seed-demo failed, see $STACK_DIR/logs/seed.log" >&2; return 1; }
}

stack__pidfile() { echo "$STACK_DIR/pids/$1-$2.pid"; }

# True while pid $1 runs (a zombie that nobody reaped yet counts as gone).
stack__alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# Pid of replica $2 of service $1 if it runs, else nothing (and status 1).
stack_pid() {
  local file pid
  file=$(stack__pidfile "$1" "${2:-1}")
  [ -f "$file" ] || return 1
  pid=$(<"$file")
  stack__alive "$pid" || return 1
  echo "$pid"
}

# Start replica $2 (default 1) of service $1 (or `gateway`) and wait for its /readyz.
stack_start() {
  local svc=$1 replica=${2:-1} port pid log deadline
  port=$(stack_port "$svc" "$replica") || return 1
  if stack_pid "$svc" "$replica" >/dev/null; then
    echo "stack: $svc $replica already runs" >&2; return 1
  fi
  log="$STACK_DIR/logs/$svc-$replica.log"
  local pin=()
  [ -n "$STACK_CPUS" ] && pin=(taskset -c "$STACK_CPUS")
  # exec chain (taskset → env → carebook) keeps one pid for the whole process.
  "${pin[@]}" env "${svc^^}_BIND=127.0.0.1:$port" "$STACK_BIN" serve "$svc" >>"$log" 2>&1 &
  pid=$!
  echo "$pid" >"$(stack__pidfile "$svc" "$replica")"
  deadline=$((SECONDS + STACK_READY_SECONDS))
  until stack_curl -fsS -o /dev/null --max-time 2 "$(stack_url "$svc" "$replica")/readyz" 2>/dev/null; do
    if ! stack__alive "$pid"; then
      echo "stack: $svc $replica exited while starting; last lines of $log:" >&2
      tail -n 20 "$log" >&2
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "stack: $svc $replica not ready after ${STACK_READY_SECONDS}s, see $log" >&2
      return 1
    fi
    sleep 0.2
  done
}

# Every replica of every service, then the gateway.
stack_start_all() {
  local svc r
  for svc in "${STACK_SERVICES[@]}"; do
    for ((r = 1; r <= STACK_REPLICAS; r++)); do stack_start "$svc" "$r" || return 1; done
  done
  stack_start gateway 1
}

# "service replica pid" for every running process, gateway last.
stack_pids() {
  local svc r pid
  for svc in "${STACK_SERVICES[@]}" gateway; do
    for ((r = 1; r <= STACK_REPLICAS; r++)); do
      if pid=$(stack_pid "$svc" "$r"); then echo "$svc $r $pid"; fi
      [ "$svc" = gateway ] && break
    done
  done
}

# Wait up to $2 seconds (default 40: the services drain for up to 30) for pid $1 to exit.
stack__wait_exit() {
  local pid=$1 deadline=$((SECONDS + ${2:-40}))
  while stack__alive "$pid"; do
    if [ $SECONDS -ge $deadline ]; then return 1; fi
    sleep 0.1
  done
  # Reap it if it is our child, so its status does not linger.
  wait "$pid" 2>/dev/null || true
}

# Send signal $3 (default TERM) to replica $2 of service $1. For TERM, INT and
# KILL, wait until the process has exited.
stack_kill() {
  local svc=$1 replica=${2:-1} signal=${3:-TERM} pid
  pid=$(stack_pid "$svc" "$replica") || { echo "stack: $svc $replica is not running" >&2; return 1; }
  kill -s "$signal" "$pid"
  case $signal in
    TERM | SIGTERM | INT | SIGINT | KILL | SIGKILL | 9 | 15 | 2)
      stack__wait_exit "$pid" || { echo "stack: $svc $replica (pid $pid) did not exit" >&2; return 1; }
      ;;
  esac
}

# SIGTERM every process (gateway first, so it stops sending traffic), wait for all.
stack_stop() {
  [ -n "${STACK_DIR:-}" ] && [ -d "$STACK_DIR/pids" ] || return 0
  local svc replica pid pids=()
  # The gateway first, so it stops sending traffic before its upstreams go.
  if pid=$(stack_pid gateway 1); then kill -s TERM "$pid" 2>/dev/null || true; pids+=("$pid"); fi
  while read -r svc replica pid; do
    [ "$svc" = gateway ] && continue
    kill -s TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
  done < <(stack_pids)
  for pid in "${pids[@]}"; do
    if ! stack__wait_exit "$pid"; then kill -s KILL "$pid" 2>/dev/null || true; stack__wait_exit "$pid" 5 || true; fi
  done
  rm -f "$STACK_DIR"/pids/*.pid
}

# Stop, then remove everything the stack created on the backing services and on disk.
# (A sandbox's servers go away with the sandbox: only stop then.)
stack_destroy() {
  [ -n "${STACK_PREFIX:-}" ] || return 0
  stack_stop
  if [ "${STACK_TLS:-0}" = 1 ]; then return 0; fi
  local svc q x
  for svc in "${STACK_SERVICES[@]}"; do
    psql "${STACK_POSTGRES_URL%/}/postgres" -qtAc \
      "DROP DATABASE IF EXISTS \"${STACK_PREFIX}_$svc\" WITH (FORCE)" >/dev/null || true
  done
  redis-cli -u "$STACK_REDIS_URL" --scan --pattern "$STACK_PREFIX:*" \
    | xargs -r -n 500 redis-cli -u "$STACK_REDIS_URL" unlink >/dev/null || true
  if command -v rabbitmqctl >/dev/null; then
    local queues
    mapfile -t queues < <(rabbitmqctl -q list_queues name 2>/dev/null | grep -E "^${STACK_PREFIX}\." || true)
    for q in "${queues[@]}"; do
      rabbitmqctl -q delete_queue "$q" </dev/null >/dev/null 2>&1 || true
    done
    for x in "$STACK_PREFIX.events" "$STACK_PREFIX.events.unrouted" "$STACK_PREFIX.events.dlx"; do
      # rabbitmqctl has no delete_exchange; the broker's own function does it.
      rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"$x\">>), false, <<\"stack.sh\">>)." \
        >/dev/null 2>&1 || true
    done
  else
    echo "stack: rabbitmqctl not found; queues $STACK_PREFIX.* and exchanges $STACK_PREFIX.events* remain" >&2
  fi
  rm -rf "$STACK_DIR"
}
