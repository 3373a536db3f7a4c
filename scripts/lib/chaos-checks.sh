# shellcheck shell=bash
# The failure drills' checks (scripts/chaos): counting rows in the services'
# own databases on the private PostgreSQL, messages in MailDev and queues on the
# private RabbitMQ. Source after sandbox.sh and stack.sh.

CHECKED_SERVICES=(identity directory scheduling notifications billing records)

# db SERVICE SQL: one value (or rows) from a service's database.
db() { sandbox_psql "${STACK_PREFIX}_$1" "$2"; }

now_ms() { date +%s%3N; }

# seconds_since MS: elapsed seconds with one decimal.
seconds_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

# Pairs of active appointments of one provider whose blocked times overlap:
# what the exclusion constraint forbids; counted, not assumed.
count_double_bookings() {
  db scheduling "SELECT count(*) FROM appointments a JOIN appointments b
    ON a.provider_id = b.provider_id AND a.id < b.id AND a.blocked && b.blocked
    WHERE a.status IN ('booked', 'checked_in') AND b.status IN ('booked', 'checked_in')"
}

# Invoices or deliveries that exist twice for what must happen once.
count_duplicate_effects() {
  local invoices deliveries
  invoices=$(db billing "SELECT count(*) FROM (SELECT 1 FROM invoices
    GROUP BY appointment_id, reason HAVING count(*) > 1) d")
  deliveries=$(db notifications "SELECT count(*) FROM (SELECT 1 FROM deliveries
    GROUP BY appointment_id, kind, version, recipient_id HAVING count(*) > 1) d")
  echo $((invoices + deliveries))
}

# Write the ids of scheduling's appointments matching WHERE to FILE.
export_appointment_ids() {
  sandbox_pg "${STACK_PREFIX}_scheduling" \
    -c "COPY (SELECT id FROM appointments WHERE $1) TO STDOUT" >"$2"
}

# count_where_ids SERVICE FILE SQL: load FILE's ids into temp table `expected`
# in SERVICE's database, then run SQL (which counts against it).
count_where_ids() {
  sandbox_pg "${STACK_PREFIX}_$1" <<SQL
CREATE TEMP TABLE expected (id uuid PRIMARY KEY);
\copy expected FROM '$2'
$3;
SQL
}

# Committed bookings (ids in FILE) without both confirmation emails (patient and
# provider) marked sent by notifications.
count_unconfirmed() {
  count_where_ids notifications "$1" "SELECT count(*) FROM expected e
    WHERE (SELECT count(*) FROM deliveries d WHERE d.appointment_id = e.id
           AND d.kind = 'booked' AND d.status = 'sent') < 2"
}

# Completed appointments (ids in FILE) without their invoice.
count_uninvoiced() {
  count_where_ids billing "$1" "SELECT count(*) FROM expected e
    WHERE NOT EXISTS (SELECT 1 FROM invoices i WHERE i.appointment_id = e.id AND i.reason = 'completed')"
}

# Message-IDs notifications recorded as sent for the appointments in FILE.
sent_message_ids() {
  count_where_ids notifications "$1" "SELECT d.message_id FROM deliveries d JOIN expected e
    ON e.id = d.appointment_id WHERE d.kind = 'booked' AND d.status = 'sent' ORDER BY 1"
}

# Message-IDs MailDev received, one per line, sorted, duplicates kept.
maildev_message_ids() {
  curl -sf --max-time 30 "$SANDBOX_MAIL_API/email" | jq -r '.[].headers["message-id"] // empty' |
    sed 's/^<\{0,1\}/</; s/>\{0,1\}$/>/' | sort
}

# Emails recorded as sent (for the appointments in FILE) that MailDev never got.
count_missing_mail() {
  local recorded="$SANDBOX_DIR/recorded-ids" received="$SANDBOX_DIR/received-ids"
  sent_message_ids "$1" | sed 's/^<\{0,1\}/</; s/>\{0,1\}$/>/' | sort -u >"$recorded"
  maildev_message_ids | sort -u >"$received"
  comm -23 "$recorded" "$received" | wc -l
}

# Messages MailDev received more than once (same Message-ID): the at-most-one
# duplicate per crash that SMTP's lack of exactly-once allows.
count_duplicate_mail() { maildev_message_ids | uniq -d | wc -l; }

# Outbox rows of every service still unpublished that were written before
# epoch milliseconds $1 (or at all, without an argument).
count_unpublished() {
  local svc total=0 n cond="published_at IS NULL"
  [ -n "${1:-}" ] && cond="$cond AND created_at < to_timestamp($1 / 1000.0)"
  for svc in "${CHECKED_SERVICES[@]}"; do
    n=$(db "$svc" "SELECT count(*) FROM outbox WHERE $cond") || return 1
    total=$((total + n))
  done
  echo "$total"
}

# "queue count" for every queue of the node. rabbitmqctl is exact where the
# management API's counts lag by seconds, but on a loaded machine its CLI can
# time out reaching the node (exit 69): retried, and a failure says so.
queue_counts() {
  local attempt out
  for attempt in 1 2 3 4 5; do
    if out=$(sandbox_rabbitmqctl -q list_queues name messages 2>/dev/null); then
      printf '%s\n' "$out"
      return 0
    fi
    sleep "$attempt"
  done
  echo "rabbitmqctl list_queues failed 5 times" >&2
  return 1
}

# "queue count" for every queue of the stack holding messages (ready + unacked),
# dead-letter queues apart.
queued_messages() {
  local counts
  counts=$(queue_counts) || return 1
  awk -v p="$STACK_PREFIX." 'index($1, p) == 1 && $1 !~ /\.dlq$/ && $1 !~ /unrouted/ && $2 > 0 { print $1, $2 }' <<<"$counts"
}

# "queue count" for every dead-letter queue of the stack.
dead_letter_counts() {
  local counts
  counts=$(queue_counts) || return 1
  awk -v p="$STACK_PREFIX." 'index($1, p) == 1 && $1 ~ /\.dlq$/ { print $1, $2 }' <<<"$counts" | sort
}

# Every replica (and the gateway) answers /readyz with its database, Redis and
# broker up; the gateway sees every replica of the stack's services healthy.
all_ready() {
  local svc replica _pid body
  while read -r svc replica _pid; do
    body=$(stack_curl -sf --max-time 2 "$(stack_url "$svc" "$replica")/readyz") || return 1
    if [ "$svc" = gateway ]; then
      jq -e --arg services "${STACK_SERVICES[*]}" '.redis == true and ([.upstreams | to_entries[]
        | select(.key as $k | $services | split(" ") | index($k)) | .value.healthy == .value.replicas] | all)' \
        <<<"$body" >/dev/null || return 1
    else
      jq -e '.status == "ready" and ([.database, .redis, .broker] | map(. == "up" or . == "unused") | all)' \
        <<<"$body" >/dev/null || return 1
    fi
  done < <(stack_pids)
}
