-- A person's own IANA time zone, when an event named one (user.registered,
-- patient.updated): appointment emails show times in it first. NULL means
-- unknown, and emails then show the provider's zone. Like the other fields it
-- keeps the occurred_at of the event that set it; an event without a zone (an
-- older producer, or one that does not know it) leaves it as it was.
ALTER TABLE people ADD COLUMN time_zone text;
ALTER TABLE people ADD COLUMN time_zone_at timestamptz NOT NULL DEFAULT '-infinity';
