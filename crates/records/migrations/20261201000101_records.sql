-- Records owns clinical entries (append-only versions, encrypted at rest), the
-- care relationships it learns from scheduling's events, break-glass grants and
-- a hash-chained audit log. No clinical text is stored in plaintext anywhere.

-- Refuses the statement: for tables that only ever grow.
CREATE FUNCTION records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Patients records knows exist (from user.registered and appointment events).
CREATE TABLE patients (
    id          uuid PRIMARY KEY,
    known_since timestamptz NOT NULL DEFAULT now()
);

-- One row per appointment, kept from appointment.* events; a provider and a
-- patient have a care relationship while any of their rows is recent enough.
CREATE TABLE care_relationships (
    appointment_id uuid PRIMARY KEY,
    provider_id    uuid        NOT NULL,
    patient_id     uuid        NOT NULL,
    status         text        NOT NULL CHECK (status IN ('booked', 'checked_in', 'completed', 'cancelled', 'no_show')),
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    -- When it stopped being active (completed, cancelled, no-show).
    closed_at      timestamptz,
    -- The event's appointment version: an older event never overwrites a newer one.
    version        integer     NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX care_relationships_pair ON care_relationships (provider_id, patient_id);

-- Data keys, wrapped by a master key. The only rows ever updated: rotation
-- re-wraps them in place (key_id, nonce, wrapped); they are never deleted.
CREATE TABLE data_keys (
    id           uuid PRIMARY KEY,
    key_id       text        NOT NULL,
    nonce        bytea       NOT NULL CHECK (length(nonce) = 12),
    wrapped      bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    rewrapped_at timestamptz
);

CREATE FUNCTION data_keys_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.id <> OLD.id OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'data_keys: only re-wrapping is allowed, % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER data_keys_rewrap_only BEFORE UPDATE OR DELETE ON data_keys
    FOR EACH ROW EXECUTE FUNCTION data_keys_guard();
CREATE TRIGGER data_keys_no_truncate BEFORE TRUNCATE ON data_keys
    FOR EACH STATEMENT EXECUTE FUNCTION records_append_only();

-- Every version of every clinical entry. An edit or an entered-in-error mark is a
-- new row; nothing here is ever updated or deleted. The content is AES-256-GCM
-- ciphertext under the row's own data key, bound to every column but the key.
CREATE TABLE record_versions (
    entry_id    uuid        NOT NULL,
    version     integer     NOT NULL CHECK (version >= 1),
    patient_id  uuid        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('encounter', 'note', 'diagnosis', 'allergy', 'medication', 'vitals')),
    status      text        NOT NULL CHECK (status IN ('active', 'entered_in_error')),
    author_id   uuid        NOT NULL,
    created_at  timestamptz NOT NULL,
    data_key_id uuid        NOT NULL UNIQUE REFERENCES data_keys (id),
    nonce       bytea       NOT NULL CHECK (length(nonce) = 12),
    ciphertext  bytea       NOT NULL,
    PRIMARY KEY (entry_id, version)
);
CREATE INDEX record_versions_patient ON record_versions (patient_id, kind, entry_id DESC, version DESC);

-- A version follows its predecessor, for the same patient and kind.
CREATE FUNCTION record_versions_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.version > 1 AND NOT EXISTS (
        SELECT 1 FROM record_versions
        WHERE entry_id = NEW.entry_id AND version = NEW.version - 1
          AND patient_id = NEW.patient_id AND kind = NEW.kind
    ) THEN
        RAISE EXCEPTION 'version % of entry % does not follow a version of the same record', NEW.version, NEW.entry_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER record_versions_follow BEFORE INSERT ON record_versions
    FOR EACH ROW EXECUTE FUNCTION record_versions_follow();
CREATE TRIGGER record_versions_append_only BEFORE UPDATE OR DELETE ON record_versions
    FOR EACH ROW EXECUTE FUNCTION records_append_only();
CREATE TRIGGER record_versions_no_truncate BEFORE TRUNCATE ON record_versions
    FOR EACH STATEMENT EXECUTE FUNCTION records_append_only();

-- Emergency access: a provider, a patient, a time window and the stated reason
-- (encrypted like clinical content: it may describe the patient's condition).
CREATE TABLE break_glass (
    id          uuid        PRIMARY KEY,
    provider_id uuid        NOT NULL,
    patient_id  uuid        NOT NULL,
    granted_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL CHECK (expires_at > granted_at),
    data_key_id uuid        NOT NULL UNIQUE REFERENCES data_keys (id),
    nonce       bytea       NOT NULL CHECK (length(nonce) = 12),
    ciphertext  bytea       NOT NULL
);
CREATE INDEX break_glass_pair ON break_glass (provider_id, patient_id, expires_at DESC);
CREATE TRIGGER break_glass_append_only BEFORE UPDATE OR DELETE ON break_glass
    FOR EACH ROW EXECUTE FUNCTION records_append_only();
CREATE TRIGGER break_glass_no_truncate BEFORE TRUNCATE ON break_glass
    FOR EACH STATEMENT EXECUTE FUNCTION records_append_only();

-- Who did what to which record, when: ids and codes only, never clinical text.
-- Each entry's hash covers its fields and the previous entry's hash.
CREATE TABLE audit_log (
    seq        bigint      PRIMARY KEY CHECK (seq >= 1),
    at         timestamptz NOT NULL,
    actor_id   uuid        NOT NULL,
    role       text        NOT NULL,
    patient_id uuid        NOT NULL,
    action     text        NOT NULL,
    kind       text,
    entry_ids  uuid[]      NOT NULL,
    outcome    text        NOT NULL,
    reason     text,
    flags      text[]      NOT NULL,
    prev_hash  bytea       NOT NULL,
    hash       bytea       NOT NULL
);
CREATE INDEX audit_log_patient ON audit_log (patient_id, seq DESC);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION records_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION records_append_only();

-- The chain's head: locked by every append, so the chain never forks, and
-- compared by verification, so removing the newest entries is noticed.
CREATE TABLE audit_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq       bigint  NOT NULL,
    hash      bytea   NOT NULL
);
INSERT INTO audit_head (seq, hash) VALUES (0, decode(repeat('00', 32), 'hex'));
