-- Snapshots are now the whole `appointment.*` v1 payload of the event
-- contract (contracts::scheduling::Appointment). Rows stored before kept a
-- subset without the appointment type's id and the author of the change; they
-- get the nil UUID for both (neither is ever shown in an email).
UPDATE deliveries
SET snapshot = jsonb_build_object(
        'appointment_type_id', '00000000-0000-0000-0000-000000000000',
        'changed_by', '00000000-0000-0000-0000-000000000000') || snapshot
WHERE NOT (snapshot ? 'changed_by');

UPDATE appointments
SET snapshot = jsonb_build_object(
        'appointment_type_id', '00000000-0000-0000-0000-000000000000',
        'changed_by', '00000000-0000-0000-0000-000000000000') || snapshot
WHERE NOT (snapshot ? 'changed_by');
