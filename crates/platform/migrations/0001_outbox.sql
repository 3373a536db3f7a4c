-- Transactional outbox: events are inserted in the same transaction as the
-- state change they describe, then published by the relay.
CREATE TABLE IF NOT EXISTS outbox (
    id           uuid PRIMARY KEY,              -- the event id (UUIDv7, time-ordered)
    event_type   text        NOT NULL,
    payload      jsonb       NOT NULL,          -- the whole envelope
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text
);

-- The relay only ever looks at unpublished rows, oldest first.
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE published_at IS NULL;
