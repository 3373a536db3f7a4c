-- Issue 21: a slot grid that respects buffers, and availability changes under
-- the provider's calendar lock that never strand bookings unannounced.

-- How far apart slots start; NULL: the visit with its buffers, so one slot's
-- buffer never hides the next.
ALTER TABLE appointment_types
    ADD COLUMN slot_step_minutes integer CHECK (slot_step_minutes BETWEEN 5 AND 1440);

-- Bumped, under the calendar lock, by every change that can take hours away.
-- A booking checks the rules against one version and inserts only if it is
-- still current once it holds the lock; otherwise it checks again.
CREATE TABLE calendar_versions (
    provider_id uuid   PRIMARY KEY REFERENCES providers (id),
    version     bigint NOT NULL
);

-- Take the provider's calendar lock (the same key as
-- store::appointments::CALENDAR_LOCK) and return the calendar's version as
-- committed once the lock is granted. VOLATILE: its query runs with a fresh
-- snapshot taken after the wait, not the calling statement's older one.
CREATE FUNCTION scheduling_lock_calendar(provider uuid) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('scheduling.provider:' || provider::text, 0));
    RETURN COALESCE((SELECT version FROM calendar_versions WHERE provider_id = provider), 0);
END
$$;

-- Appointments an availability change left where they were on purpose
-- (`on_conflict: keep`): outside the provider's hours from then on, known.
CREATE TABLE availability_exceptions (
    id                  uuid        PRIMARY KEY,
    provider_id         uuid        NOT NULL REFERENCES providers (id),
    appointment_id      uuid        NOT NULL REFERENCES appointments (id),
    -- The appointment's version it was kept at: a later move ends it.
    appointment_version integer     NOT NULL,
    change              text        NOT NULL CHECK (change IN ('hours', 'override', 'time_off')),
    recorded_by         uuid        NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (appointment_id, appointment_version)
);
CREATE INDEX availability_exceptions_provider ON availability_exceptions (provider_id, recorded_at);
