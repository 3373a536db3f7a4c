-- Holds, the waitlist with automatic backfill, and self-service links (issue 20).

-- Holds are rows of `appointments` (status 'held') under the same exclusion
-- constraints as bookings: one mechanism decides every overlap. Each row
-- claims its time for a stretch of wall-clock time: a booking from when it
-- was made, open-ended; a hold until it expires. The constraints compare the
-- claims too, so a hold that has expired no longer clashes with anything,
-- without any sweeper having to run first.
ALTER TABLE appointments DROP CONSTRAINT appointments_status_check;
ALTER TABLE appointments ADD CONSTRAINT appointments_status_check CHECK (status IN (
    'held', 'released', 'expired',
    'booked', 'checked_in', 'completed', 'cancelled', 'no_show'));
ALTER TABLE appointments ADD COLUMN claimed tstzrange;
UPDATE appointments SET claimed = tstzrange(created_at, NULL);
ALTER TABLE appointments ALTER COLUMN claimed SET NOT NULL;
-- Set on holds only (and kept once one is converted): when it lapses.
ALTER TABLE appointments ADD COLUMN hold_expires_at timestamptz;
ALTER TABLE appointments ADD CONSTRAINT appointments_claimed_shape CHECK (
    NOT isempty(claimed) AND NOT lower_inf(claimed)
    -- An appointment keeps its time until it changes state; a hold only until it expires.
    AND (status NOT IN ('booked', 'checked_in') OR upper_inf(claimed))
    AND (status <> 'held' OR upper(claimed) = hold_expires_at)
    AND (status NOT IN ('held', 'released', 'expired') OR hold_expires_at IS NOT NULL));

ALTER TABLE appointments DROP CONSTRAINT appointments_provider_overlap;
ALTER TABLE appointments DROP CONSTRAINT appointments_patient_overlap;
ALTER TABLE appointments ADD CONSTRAINT appointments_provider_overlap
    EXCLUDE USING gist (provider_id WITH =, blocked WITH &&, claimed WITH &&)
    WHERE (status IN ('held', 'booked', 'checked_in'));
ALTER TABLE appointments ADD CONSTRAINT appointments_patient_overlap
    EXCLUDE USING gist (patient_id WITH =, during WITH &&, claimed WITH &&)
    WHERE (status IN ('held', 'booked', 'checked_in'));

-- Holds still marked 'held', by expiry: what the sweeper announces.
CREATE INDEX appointments_holds ON appointments (upper(claimed)) WHERE status = 'held';
CREATE INDEX appointments_held_patient ON appointments (patient_id) WHERE status = 'held';

-- What the specialty of a waitlist entry is matched against.
ALTER TABLE providers ADD COLUMN specialty text NOT NULL DEFAULT '';

-- A patient's wish for an earlier slot.
CREATE TABLE waitlist_entries (
    id                  uuid PRIMARY KEY,
    patient_id          uuid        NOT NULL REFERENCES patients (id),
    appointment_type_id uuid        NOT NULL REFERENCES appointment_types (id),
    provider_id         uuid        REFERENCES providers (id),
    specialty           text,
    earliest            timestamptz NOT NULL,
    latest              timestamptz NOT NULL CHECK (latest > earliest),
    -- ISO weekdays (1 = Monday) in the provider's time zone; empty: any day.
    weekdays            smallint[]  NOT NULL DEFAULT '{}',
    day_start           time,
    day_end             time,
    priority            integer     NOT NULL DEFAULT 0,
    status              text        NOT NULL CHECK (status IN ('waiting', 'offered', 'fulfilled', 'left')),
    appointment_id      uuid,
    created_by          uuid        NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((provider_id IS NULL) <> (specialty IS NULL)),
    CHECK ((day_start IS NULL) = (day_end IS NULL) AND (day_end IS NULL OR day_end > day_start))
);
CREATE INDEX waitlist_entries_patient ON waitlist_entries (patient_id, created_at, id);
CREATE INDEX waitlist_entries_list ON waitlist_entries (created_at, id);
CREATE INDEX waitlist_entries_waiting_provider ON waitlist_entries (provider_id)
    WHERE status = 'waiting' AND provider_id IS NOT NULL;
CREATE INDEX waitlist_entries_waiting_specialty ON waitlist_entries (lower(specialty))
    WHERE status = 'waiting' AND specialty IS NOT NULL;

-- A freed slot held for one entry; the token is kept only as its SHA-256.
CREATE TABLE waitlist_offers (
    id          uuid PRIMARY KEY,
    entry_id    uuid        NOT NULL REFERENCES waitlist_entries (id),
    hold_id     uuid        NOT NULL REFERENCES appointments (id),
    token_hash  bytea       NOT NULL UNIQUE,
    provider_id uuid        NOT NULL,
    start       timestamptz NOT NULL,
    -- When the slot was freed (the time to refill counts from here).
    opened_at   timestamptz NOT NULL,
    offered_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    status      text        NOT NULL CHECK (status IN ('open', 'claimed', 'lapsed', 'declined', 'withdrawn')),
    closed_at   timestamptz
);
CREATE UNIQUE INDEX waitlist_offers_one_open ON waitlist_offers (entry_id) WHERE status = 'open';
CREATE INDEX waitlist_offers_hold ON waitlist_offers (hold_id);
CREATE INDEX waitlist_offers_slot ON waitlist_offers (provider_id, start);

-- Time that became free on a provider's calendar (a cancellation, a move, new
-- hours, a lapsed or released hold), written in the transaction that freed it
-- and taken by the backfill worker, which offers it to the waitlist.
CREATE TABLE slot_openings (
    id          bigserial PRIMARY KEY,
    provider_id uuid        NOT NULL,
    during      tstzrange   NOT NULL CHECK (NOT isempty(during)),
    cause       text        NOT NULL,
    opened_at   timestamptz NOT NULL
);

-- Self-service links used, so each works once (a use that changes the
-- appointment also retires it through the version).
CREATE TABLE appointment_link_uses (
    appointment_id uuid        NOT NULL REFERENCES appointments (id),
    version        integer     NOT NULL,
    action         text        NOT NULL CHECK (action IN ('cancel', 'reschedule')),
    used_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (appointment_id, version, action)
);
