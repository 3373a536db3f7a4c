-- Accountable break-glass: the per-provider rolling limit counts a provider's
-- recent grants, and an admin reviews each grant once. Reviews only ever grow,
-- like the grants; the note is encrypted like the reason it judges.

CREATE INDEX break_glass_provider_granted ON break_glass (provider_id, granted_at DESC);

CREATE TABLE break_glass_reviews (
    grant_id    uuid        PRIMARY KEY REFERENCES break_glass (id),
    outcome     text        NOT NULL CHECK (outcome IN ('justified', 'unjustified')),
    reviewed_by uuid        NOT NULL,
    reviewed_at timestamptz NOT NULL,
    data_key_id uuid        NOT NULL UNIQUE REFERENCES data_keys (id),
    nonce       bytea       NOT NULL CHECK (length(nonce) = 12),
    ciphertext  bytea       NOT NULL
);
CREATE TRIGGER break_glass_reviews_append_only BEFORE UPDATE OR DELETE ON break_glass_reviews
    FOR EACH ROW EXECUTE FUNCTION records_append_only();
CREATE TRIGGER break_glass_reviews_no_truncate BEFORE TRUNCATE ON break_glass_reviews
    FOR EACH STATEMENT EXECUTE FUNCTION records_append_only();
