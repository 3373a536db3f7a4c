-- Accounts. Emails are stored normalized (trimmed, lower-case) and unique.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text        NOT NULL UNIQUE,
    name          text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('patient', 'provider', 'staff', 'admin')),
    password_hash text        NOT NULL,              -- argon2id PHC string
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz
);

-- Opaque refresh tokens, stored as SHA-256 hashes. Every use rotates the token
-- within its family; presenting a used or revoked token revokes the family.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    family_id   uuid        NOT NULL,
    user_id     uuid        NOT NULL REFERENCES users (id),
    token_hash  bytea       NOT NULL UNIQUE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Failed-login throttle keyed by a hash of the normalized email, whether or not
-- an account exists: unknown and known emails behave the same (no enumeration),
-- and no email is stored in clear here.
CREATE TABLE login_throttle (
    email_key    bytea PRIMARY KEY,
    failures     integer     NOT NULL DEFAULT 0,
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
