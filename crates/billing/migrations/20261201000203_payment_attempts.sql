-- A payment or refund in flight. Billing records the attempt (and commits)
-- before it asks the payment provider, asks outside any transaction, then
-- records the outcome in a second short transaction. The attempt's id is the
-- transfer's idempotency key at the provider and, once recorded, the id of the
-- payments row: with an Idempotency-Key it is derived from (kind, invoice,
-- user, key), so every try of one request asks for the same transfer.
--
-- Payments and refunds keep their idempotency here, not in idempotency_keys:
-- a request is now carried out over two transactions, and a retry must find
-- one in flight to resume it. (Rows of idempotency_keys from before are still
-- honoured: a request answered there is not carried out again.)
CREATE TABLE payment_attempts (
    id              uuid PRIMARY KEY,
    invoice_id      uuid        NOT NULL REFERENCES invoices (id),
    kind            text        NOT NULL CHECK (kind IN ('payment', 'refund')),
    amount_minor    bigint      NOT NULL CHECK (amount_minor > 0),
    currency        char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    method          text        NOT NULL CHECK (method IN ('cash', 'card', 'bank_transfer', 'insurance', 'other')),
    reference       text,
    processor       text        NOT NULL,
    requested_by    uuid        NOT NULL,
    -- The client's Idempotency-Key and a digest of its request; NULL when the
    -- request came without one (the id was then made up and stored first).
    idempotency_key text,
    request_hash    bytea,
    -- pending: recorded, the provider's answer not (yet); completed: the
    -- payments row exists (final); failed: declined or unreachable, nothing
    -- moved, a retry of the same request asks again with the same id.
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'failed')),
    -- Why the last try failed; never the provider's own words.
    failure         text        CHECK (failure IN ('declined', 'unavailable')),
    tries           integer     NOT NULL DEFAULT 1 CHECK (tries >= 1),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payment_attempts_one_per_key UNIQUE (requested_by, idempotency_key),
    CHECK ((idempotency_key IS NULL) = (request_hash IS NULL)),
    CHECK ((status = 'failed') = (failure IS NOT NULL))
);
-- Money in flight on an invoice is held back from the checks of new payments,
-- refunds and voids.
CREATE INDEX payment_attempts_in_flight ON payment_attempts (invoice_id) WHERE status = 'pending';

-- Like the rest of billing's history, an attempt is never deleted and what was
-- asked for never edited: only its status moves (pending ⇄ failed → completed),
-- and a completed attempt is final.
CREATE FUNCTION payment_attempts_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'payment_attempts is append-only';
    END IF;
    IF OLD.status = 'completed' THEN
        RAISE EXCEPTION 'a completed payment attempt is final';
    END IF;
    IF (NEW.id, NEW.invoice_id, NEW.kind, NEW.amount_minor, NEW.currency, NEW.method, NEW.reference,
        NEW.processor, NEW.requested_by, NEW.idempotency_key, NEW.request_hash, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.invoice_id, OLD.kind, OLD.amount_minor, OLD.currency, OLD.method, OLD.reference,
        OLD.processor, OLD.requested_by, OLD.idempotency_key, OLD.request_hash, OLD.created_at) THEN
        RAISE EXCEPTION 'what a payment attempt asked for is never edited';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER payment_attempts_guard BEFORE UPDATE OR DELETE ON payment_attempts
    FOR EACH ROW EXECUTE FUNCTION payment_attempts_guard();
