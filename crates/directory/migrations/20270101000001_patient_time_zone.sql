-- A patient's IANA time zone (`America/New_York`): set from the browser at
-- registration (identity's `user.registered`), editable in the profile, so
-- emails and reminders can show the recipient's own local time. NULL while
-- unknown (accounts registered before, or a browser that did not say).
-- Validated against the tz database by the service, not here: the database's
-- own zone list can differ from the one the services are built with.
ALTER TABLE patients ADD COLUMN time_zone text;
