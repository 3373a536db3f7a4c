-- Scheduling owns appointment types, availability and appointments. Providers
-- and patients here are read models fed by events (no reads of other services).
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE providers (
    id         uuid PRIMARY KEY,
    name       text        NOT NULL DEFAULT '',
    time_zone  text        NOT NULL DEFAULT 'UTC',
    -- occurred_at of the last event applied, so an older event never wins.
    updated_at timestamptz NOT NULL DEFAULT '-infinity'
);

CREATE TABLE patients (
    id uuid PRIMARY KEY
);

CREATE TABLE appointment_types (
    id                          uuid PRIMARY KEY,
    provider_id                 uuid        NOT NULL REFERENCES providers (id),
    name                        text        NOT NULL,
    duration_minutes            integer     NOT NULL CHECK (duration_minutes BETWEEN 5 AND 480),
    buffer_before_minutes       integer     NOT NULL DEFAULT 0 CHECK (buffer_before_minutes BETWEEN 0 AND 240),
    buffer_after_minutes        integer     NOT NULL DEFAULT 0 CHECK (buffer_after_minutes BETWEEN 0 AND 240),
    price_minor                 bigint      NOT NULL CHECK (price_minor >= 0),
    currency                    char(3)     NOT NULL,
    mode                        text        NOT NULL CHECK (mode IN ('in_person', 'telehealth')),
    min_notice_minutes          integer     NOT NULL DEFAULT 0 CHECK (min_notice_minutes >= 0),
    horizon_days                integer     NOT NULL DEFAULT 90 CHECK (horizon_days BETWEEN 1 AND 730),
    cancellation_window_minutes integer     NOT NULL DEFAULT 1440 CHECK (cancellation_window_minutes >= 0),
    late_cancel_fee_minor       bigint      NOT NULL DEFAULT 0 CHECK (late_cancel_fee_minor >= 0),
    active                      boolean     NOT NULL DEFAULT true,
    created_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX appointment_types_provider ON appointment_types (provider_id);

-- Weekly rules in the provider's local time (ISO weekday 1 = Monday).
CREATE TABLE weekly_rules (
    provider_id uuid     NOT NULL REFERENCES providers (id),
    weekday     smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_time  time     NOT NULL,
    end_time    time     NOT NULL CHECK (end_time > start_time)
);
CREATE INDEX weekly_rules_provider ON weekly_rules (provider_id);

-- A date with override rows uses them instead of the weekly rules; a row with
-- NULL times marks the date closed.
CREATE TABLE date_overrides (
    provider_id uuid NOT NULL REFERENCES providers (id),
    date        date NOT NULL,
    start_time  time,
    end_time    time,
    CHECK ((start_time IS NULL AND end_time IS NULL) OR end_time > start_time)
);
CREATE INDEX date_overrides_provider ON date_overrides (provider_id, date);

CREATE TABLE time_off (
    id          uuid PRIMARY KEY,
    provider_id uuid        NOT NULL REFERENCES providers (id),
    during      tstzrange   NOT NULL CHECK (NOT isempty(during)),
    reason      text,
    created_by  uuid        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX time_off_provider ON time_off USING gist (provider_id, during);

CREATE TABLE appointments (
    id                  uuid PRIMARY KEY,
    patient_id          uuid        NOT NULL REFERENCES patients (id),
    provider_id         uuid        NOT NULL REFERENCES providers (id),
    appointment_type_id uuid        NOT NULL REFERENCES appointment_types (id),
    during              tstzrange   NOT NULL CHECK (NOT isempty(during)),
    -- The appointment plus its type's buffers: what the provider's time loses.
    blocked             tstzrange   NOT NULL CHECK (blocked @> during),
    status              text        NOT NULL CHECK (status IN ('booked', 'checked_in', 'completed', 'cancelled', 'no_show')),
    version             integer     NOT NULL DEFAULT 1,
    cancel_reason       text,
    cancelled_by        uuid,
    late_cancellation   boolean     NOT NULL DEFAULT false,
    created_by          uuid        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    -- No double booking, decided by the database under any concurrency.
    CONSTRAINT appointments_provider_overlap EXCLUDE USING gist (provider_id WITH =, blocked WITH &&)
        WHERE (status IN ('booked', 'checked_in')),
    CONSTRAINT appointments_patient_overlap EXCLUDE USING gist (patient_id WITH =, during WITH &&)
        WHERE (status IN ('booked', 'checked_in'))
);
CREATE INDEX appointments_patient ON appointments (patient_id, lower(during), id);
CREATE INDEX appointments_provider ON appointments (provider_id, lower(during), id);
CREATE INDEX appointments_start ON appointments (lower(during), id);

-- Every change of an appointment, in order (reschedules keep the id).
CREATE TABLE appointment_history (
    appointment_id uuid        NOT NULL REFERENCES appointments (id),
    version        integer     NOT NULL,
    status         text        NOT NULL,
    during         tstzrange   NOT NULL,
    changed_by     uuid        NOT NULL,
    changed_at     timestamptz NOT NULL DEFAULT now(),
    note           text,
    PRIMARY KEY (appointment_id, version)
);

-- Idempotency-Key: the first response to a key is stored with the booking, in
-- the same transaction, and replayed for retries of the same request.
CREATE TABLE idempotency_keys (
    user_id         uuid        NOT NULL,
    key             text        NOT NULL,
    request_hash    bytea       NOT NULL,
    response_status smallint,
    response_body   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
