-- Issue 21: recurring series. A series is what was asked for; each planned
-- occurrence keeps its start and either its appointment or why it could not
-- be booked (a problem type), so the answer can be shown again later.

CREATE TABLE appointment_series (
    id                  uuid        PRIMARY KEY,
    provider_id         uuid        NOT NULL REFERENCES providers (id),
    patient_id          uuid        NOT NULL,
    appointment_type_id uuid        NOT NULL REFERENCES appointment_types (id),
    every_weeks         integer     NOT NULL CHECK (every_weeks BETWEEN 1 AND 52),
    created_by          uuid        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX appointment_series_patient ON appointment_series (patient_id);

CREATE TABLE series_occurrences (
    series_id      uuid        NOT NULL REFERENCES appointment_series (id),
    position       integer     NOT NULL CHECK (position >= 0),
    local_date     date        NOT NULL,
    -- NULL: the local time does not exist that day (a daylight-saving gap).
    start          timestamptz,
    appointment_id uuid        UNIQUE REFERENCES appointments (id),
    -- Why it was not booked: the problem type a single booking would get.
    not_booked     jsonb,
    PRIMARY KEY (series_id, position),
    CHECK ((appointment_id IS NULL) <> (not_booked IS NULL))
);
