-- Issue 21: reminder offsets per appointment type.

-- When patients are reminded of this type, in minutes before the start
-- (NULL: the clinic's default; empty: never).
ALTER TABLE appointment_types
    ADD COLUMN reminder_offsets_minutes integer[]
        CHECK (cardinality(reminder_offsets_minutes) <= 5);
