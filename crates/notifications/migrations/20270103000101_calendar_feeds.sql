-- A provider's calendar feed (issue 21): one secret subscription URL per
-- provider, serving their schedule as iCalendar to calendar clients that
-- cannot send an access token. Only the SHA-256 of the URL's token is kept;
-- creating the feed again replaces it (the old URL stops working at once),
-- deleting the row ends the feed.
CREATE TABLE calendar_feeds (
    provider_id      uuid PRIMARY KEY,
    token_hash       bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    -- The provider opted into the patients' initials (`A. P.`) in the events.
    patient_initials boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL
);

-- The feed reads one provider's appointments by start time.
CREATE INDEX appointments_provider_start ON appointments (provider_id, starts_at);
