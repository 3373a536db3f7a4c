-- Break-glass access (a provider opening a patient's record in an emergency)
-- is emailed to the patient and to the clinic's privacy contact, which is a
-- configured address or, without one, every admin.

-- Admins are kept (names and addresses) to be told; staff still are not.
ALTER TABLE people DROP CONSTRAINT people_role_check;
ALTER TABLE people ADD CONSTRAINT people_role_check
    CHECK (role IN ('patient', 'provider', 'admin'));

-- A delivery is about an appointment or, for kind `break-glass`, a grant: its
-- id goes in `appointment_id` (the subject of the email) and the
-- `record.break_glass_granted` payload in `snapshot`. The configured privacy
-- contact is an address, not a person: its rows carry the nil UUID as
-- `recipient_id` (one email per grant to whoever is configured) and the
-- address itself in `recipient_address`, which the worker sends to.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_recipient_role_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_recipient_role_check
    CHECK (recipient_role IN ('patient', 'provider', 'admin', 'privacy-contact'));
ALTER TABLE deliveries ADD COLUMN recipient_address text;
