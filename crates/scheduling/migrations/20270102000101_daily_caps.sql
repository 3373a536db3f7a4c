-- Issue 21: daily caps per provider and per appointment type, and minimum
-- notice in calendar days.

-- At most this many appointments a day in the provider's zone (NULL: no cap).
ALTER TABLE providers ADD COLUMN daily_cap integer CHECK (daily_cap BETWEEN 1 AND 500);

ALTER TABLE appointment_types
    -- At most this many of this type a day (NULL: no cap).
    ADD COLUMN daily_cap integer CHECK (daily_cap BETWEEN 1 AND 500),
    -- Bookable from the start of the local day this many days ahead (0: today).
    ADD COLUMN min_notice_days integer NOT NULL DEFAULT 0 CHECK (min_notice_days BETWEEN 0 AND 365);

-- Whether one more appointment of type `kind` starting at `start` fits the
-- provider's local day (in its time zone) under both caps, `moving` (an
-- appointment being moved) aside. Counts what occupies the day: booked,
-- checked in, completed, no-show, and holds live at `at`. The one definition
-- of the rule: the booking and hold inserts call it under the calendar lock
-- (VOLATILE plpgsql: each query sees what committed before the lock was
-- granted), and the slot list asks it which days are full.
CREATE FUNCTION scheduling_day_has_room(
    provider uuid, kind uuid, start timestamptz, at timestamptz, moving uuid
) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    provider_cap integer;
    zone         text;
    type_cap     integer := (SELECT daily_cap FROM appointment_types WHERE id = kind);
    local_day    timestamp;
    day_from     timestamptz;
    day_to       timestamptz;
    total        integer;
    of_kind      integer;
BEGIN
    SELECT daily_cap, time_zone INTO provider_cap, zone FROM providers WHERE id = provider;
    IF provider_cap IS NULL AND type_cap IS NULL THEN
        RETURN true;
    END IF;
    BEGIN
        local_day := date_trunc('day', start AT TIME ZONE zone);
        day_from := local_day AT TIME ZONE zone;
        day_to := (local_day + interval '1 day') AT TIME ZONE zone;
    EXCEPTION WHEN invalid_parameter_value THEN
        -- A zone this PostgreSQL does not know: the day in UTC, as scheduling
        -- falls back to for slots.
        day_from := date_trunc('day', start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
        day_to := day_from + interval '1 day';
    END;
    SELECT count(*), count(*) FILTER (WHERE appointment_type_id = kind)
      INTO total, of_kind
      FROM appointments
     WHERE provider_id = provider
       AND id IS DISTINCT FROM moving
       AND lower(during) >= day_from AND lower(during) < day_to
       AND (status IN ('booked', 'checked_in', 'completed', 'no_show')
            OR (status = 'held' AND claimed && tstzrange(at, NULL)));
    RETURN (provider_cap IS NULL OR total < provider_cap)
       AND (type_cap IS NULL OR of_kind < type_cap);
END
$$;
