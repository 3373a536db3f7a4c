-- Care per appointment: a provider reads a patient's summary only inside the
-- care windows of their appointments together (`platform::care`, the rule
-- records follows), not forever after any appointment.

-- The per-pair table only said that a provider and a patient had some
-- appointment once: it cannot say whether that appointment was cancelled,
-- completed long ago, or is still weeks away, so no care window can be
-- computed from it, and it is dropped rather than converted. Care is
-- re-learned from the next event of each appointment; until then its provider
-- is refused, which errs on the patient's side.
DROP TABLE care_relationships;

-- One row per appointment, kept from scheduling's `appointment.*` events.
-- No foreign keys: an appointment's event may arrive before the patient's
-- profile exists.
CREATE TABLE care_visits (
    appointment_id uuid PRIMARY KEY,
    provider_id    uuid        NOT NULL,
    patient_id     uuid        NOT NULL,
    status         text        NOT NULL CHECK (status IN ('booked', 'checked_in', 'completed', 'cancelled', 'no_show')),
    starts_at      timestamptz NOT NULL,
    -- When it stopped being active: the occurred_at of the event that made it
    -- completed, cancelled or a no-show; NULL exactly while booked or checked in.
    closed_at      timestamptz CHECK ((closed_at IS NULL) = (status IN ('booked', 'checked_in'))),
    -- The appointment's version in the event: an older event never overwrites a newer one.
    version        integer     NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
-- The summary's question: this provider's appointments with this patient.
CREATE INDEX care_visits_pair ON care_visits (provider_id, patient_id);
