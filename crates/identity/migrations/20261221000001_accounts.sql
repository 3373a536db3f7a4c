-- Accounts a clinic can run: verified addresses, single-use emailed tokens,
-- sessions with an end, TOTP, an append-only audit of account decisions, and a
-- login throttle keyed per (account, client address) and per client address.

-- Verification. Accounts made before addresses were verified count as verified.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
UPDATE users SET email_verified_at = created_at;

-- TOTP (RFC 6238). The base32 secret is kept in clear in this database (never
-- logged, never returned after enrolment); a pending secret waits for its
-- first code. `totp_last_step` is the time step of the last accepted code, so
-- a code is accepted once.
ALTER TABLE users ADD COLUMN totp_secret         text;
ALTER TABLE users ADD COLUMN totp_pending_secret text;
ALTER TABLE users ADD COLUMN totp_enabled_at     timestamptz;
ALTER TABLE users ADD COLUMN totp_last_step      bigint;

-- Recovery codes of an account's TOTP, stored as SHA-256 hashes; each usable once.
CREATE TABLE recovery_codes (
    user_id   uuid        NOT NULL REFERENCES users (id),
    code_hash bytea       NOT NULL,
    used_at   timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- Single-use tokens: email verification (24 h), password reset (30 min) and
-- the second step of a login (5 min). Only the SHA-256 of a token is kept.
CREATE TABLE account_tokens (
    token_hash bytea PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id),
    purpose    text        NOT NULL CHECK (purpose IN ('verify_email', 'password_reset', 'mfa')),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose, created_at);

-- A login's session: the refresh-token family and the `sid` of its access
-- tokens. It ends `expires_at` after the login however often it is refreshed.
-- The client's network is kept coarsely (an IPv4 /24, an IPv6 /48) so its
-- holder can tell sessions apart; nothing finer is needed.
CREATE TABLE sessions (
    id             uuid PRIMARY KEY,
    user_id        uuid        NOT NULL REFERENCES users (id),
    created_at     timestamptz NOT NULL,
    last_used_at   timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    user_agent     text,
    client_network text
);
CREATE INDEX sessions_user ON sessions (user_id, created_at);

-- The families that exist already become sessions (ending 30 days after their first token).
INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at)
SELECT family_id, user_id, min(issued_at), max(issued_at), min(issued_at) + interval '30 days',
       CASE WHEN bool_and(revoked_at IS NOT NULL) THEN max(revoked_at) END
FROM refresh_tokens GROUP BY family_id, user_id;
ALTER TABLE refresh_tokens ADD CONSTRAINT refresh_tokens_session
    FOREIGN KEY (family_id) REFERENCES sessions (id);

-- Who disabled or enabled which account, when and why. Append-only.
CREATE TABLE account_audit (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL,
    actor_id uuid        NOT NULL,
    user_id  uuid        NOT NULL REFERENCES users (id),
    action   text        NOT NULL CHECK (action IN ('disable', 'enable')),
    reason   text        NOT NULL
);
CREATE INDEX account_audit_user ON account_audit (user_id, at);

CREATE FUNCTION account_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'account_audit is append-only';
END;
$$;
CREATE TRIGGER account_audit_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON account_audit
    FOR EACH STATEMENT EXECUTE FUNCTION account_audit_append_only();

-- The email-keyed throttle is replaced by counters per (account, address) and
-- per address. Keys are SHA-256 hashes: no email or address is stored here.
DROP TABLE login_throttle;
CREATE TABLE login_counters (
    key          bytea PRIMARY KEY,
    failures     integer     NOT NULL,
    window_start timestamptz NOT NULL,
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX login_counters_updated ON login_counters (updated_at);

-- Failed logins of the last hour per account key, with the address key, for
-- the many-addresses alert; and the alert's open episodes.
CREATE TABLE login_failures (
    account_key bytea       NOT NULL,
    address_key bytea       NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX login_failures_account ON login_failures (account_key, at);

CREATE TABLE signin_alerts (
    account_key     bytea PRIMARY KEY,
    alerted_at      timestamptz NOT NULL,
    last_failure_at timestamptz NOT NULL
);
