-- Waitlist offers and self-service links (issue 20).
--
-- A waitlist offer (`waitlist.offered`) is one email to the patient: its row
-- carries kind `waitlist-offer`, the offer's id in `appointment_id` (the
-- subject of the email) and the payload in `snapshot`, whose claim `token` is
-- removed as soon as the delivery is final, as account links' are.
--
-- The cancel and reschedule links of an appointment (`appointment.links_issued`)
-- are kept here for its newest version only, until the appointment starts
-- (`expires_at`) or a newer version is known; then the row is deleted. The
-- patient's confirmation and reminders of that version look them up when they
-- are rendered, so the delivery log never holds them.
CREATE TABLE appointment_links (
    appointment_id   uuid PRIMARY KEY,
    patient_id       uuid        NOT NULL,
    version          integer     NOT NULL CHECK (version >= 1),
    cancel_token     text        NOT NULL,
    reschedule_token text        NOT NULL,
    expires_at       timestamptz NOT NULL,
    received_at      timestamptz NOT NULL
);
CREATE INDEX appointment_links_expiry ON appointment_links (expires_at);
