-- Notifications owns who to write to (a read model of people fed by events),
-- the latest known state of each appointment, the reminders still to send, and
-- the delivery log: one row per email, ever.

-- Patients and providers as identity and the directory describe them. Each
-- group of fields keeps the occurred_at of the event that set it, so an older
-- event never overwrites a newer one.
CREATE TABLE people (
    id       uuid PRIMARY KEY,
    role     text        NOT NULL CHECK (role IN ('patient', 'provider')),
    name     text        NOT NULL DEFAULT '',
    name_at  timestamptz NOT NULL DEFAULT '-infinity',
    email    text,
    email_at timestamptz NOT NULL DEFAULT '-infinity'
);

-- The newest version of each appointment seen in an event, as the event carried
-- it (`snapshot`); reminders render from it and check they are still current.
CREATE TABLE appointments (
    id          uuid PRIMARY KEY,
    patient_id  uuid        NOT NULL,
    provider_id uuid        NOT NULL,
    version     integer     NOT NULL,
    status      text        NOT NULL,
    starts_at   timestamptz NOT NULL,
    snapshot    jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per (appointment, offset before the start). A booking creates them, a
-- reschedule moves them (new due time, new version), a cancellation cancels them.
-- The worker claims due rows with FOR UPDATE SKIP LOCKED and turns each into a
-- delivery in the same transaction.
CREATE TABLE reminders (
    appointment_id uuid        NOT NULL REFERENCES appointments (id),
    offset_minutes integer     NOT NULL CHECK (offset_minutes > 0),
    version        integer     NOT NULL,
    due_at         timestamptz NOT NULL,
    status         text        NOT NULL CHECK (status IN ('pending', 'enqueued', 'skipped', 'cancelled')),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (appointment_id, offset_minutes)
);
CREATE INDEX reminders_due ON reminders (due_at) WHERE status = 'pending';

-- The delivery log. The UNIQUE key is the promise: one email per (appointment,
-- kind, version, recipient), whatever is redelivered or retried. Rows are
-- created in the consumer's transaction (or the reminder claim's) and sent by
-- the worker: `sending` with a lease before the SMTP transaction, `sent` after.
CREATE TABLE deliveries (
    id              uuid PRIMARY KEY,
    appointment_id  uuid        NOT NULL,
    kind            text        NOT NULL,
    version         integer     NOT NULL,
    recipient_id    uuid        NOT NULL,
    recipient_role  text        NOT NULL CHECK (recipient_role IN ('patient', 'provider')),
    status          text        NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    subject         text        NOT NULL,
    -- The appointment as of `version`: what the email says.
    snapshot        jsonb       NOT NULL,
    -- Derived from the key above: the same on every attempt, so receivers can
    -- drop the duplicate a crash between sending and recording may cause.
    message_id      text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    lease_until     timestamptz,
    -- A classification (`smtp-550`, `connection`, `recipient-unknown`), never
    -- the server's text, which may quote the address.
    last_error      text,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deliveries_once UNIQUE (appointment_id, kind, version, recipient_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE status = 'sending';
CREATE INDEX deliveries_failed ON deliveries (created_at) WHERE status = 'failed';
CREATE INDEX deliveries_recipient ON deliveries (recipient_id, id);

-- Every attempt at sending, successful or not.
CREATE TABLE delivery_attempts (
    delivery_id uuid        NOT NULL REFERENCES deliveries (id),
    attempt     integer     NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    outcome     text        NOT NULL CHECK (outcome IN ('sent', 'retry', 'failed', 'cancelled')),
    error       text,
    PRIMARY KEY (delivery_id, attempt)
);
