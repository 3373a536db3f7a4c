-- Care relationships and the front desk's patient search.

-- Which provider has (or had) an appointment with which patient, learned from
-- scheduling's `appointment.*` events: such a provider may read the patient's
-- summary (name, date of birth, contact). One row per pair; the first
-- appointment seen is kept for the audit trail. No foreign keys: the
-- appointment's event may arrive before the patient's profile exists.
CREATE TABLE care_relationships (
    provider_id          uuid        NOT NULL,
    patient_id           uuid        NOT NULL,
    first_appointment_id uuid        NOT NULL,
    -- occurred_at of the first appointment event seen for the pair.
    since                timestamptz NOT NULL,
    PRIMARY KEY (provider_id, patient_id)
);

-- `GET /patients?q=`: each word is `lower(name || ' ' || email) LIKE '%word%'`;
-- the store repeats this exact expression so the planner can use the index
-- (no pending list, for the reason given at `providers_search`).
CREATE INDEX patients_search ON patients
    USING gin ((lower(name || ' ' || email)) gin_trgm_ops)
    WITH (fastupdate = off);
-- The search's order and its keyset pagination `(name, id) > (cursor)`.
CREATE INDEX patients_by_name ON patients (name, id);
