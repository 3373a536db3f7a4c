-- Idempotency-Key for payments and refunds (platform::idempotency): a retried
-- request with the same key moves money once; the key is marked done in the
-- same transaction as the payment row.
CREATE TABLE idempotency_keys (
    user_id         uuid        NOT NULL,
    key             text        NOT NULL,
    request_hash    bytea       NOT NULL,
    response_status smallint,
    response_body   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
