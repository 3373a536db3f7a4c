-- Profiles the directory owns. Rows are created from identity's
-- `user.registered` events (ids are user ids) and edited through the API.
-- `version` grows by one on every change; the cache uses it so a slow reader
-- can never put an older profile back after a write invalidated it.

-- Trigram indexes for the free-text provider search (`LIKE '%term%'`).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE providers (
    id                     uuid PRIMARY KEY,
    name                   text        NOT NULL,
    specialty              text        NOT NULL,
    bio                    text        NOT NULL DEFAULT '',
    languages              text[]      NOT NULL DEFAULT '{}',
    location               text        NOT NULL DEFAULT '',
    time_zone              text        NOT NULL,           -- IANA name, checked by the service
    accepting_new_patients boolean     NOT NULL DEFAULT true,
    version                bigint      NOT NULL DEFAULT 1,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

-- The listing order, and its keyset pagination `(name, id) > (cursor)`.
CREATE INDEX providers_by_name ON providers (name, id);
-- `?specialty=` (case-insensitive), already in listing order.
CREATE INDEX providers_by_specialty ON providers (lower(specialty), name, id);
-- `?q=`: each term is `lower(name || ' ' || specialty || ' ' || bio) LIKE '%term%'`;
-- the store repeats this exact expression so the planner can use the index.
-- No fast-update pending list: profiles change rarely, and while unvacuumed
-- pending entries exist the planner prices the index out and scans the table.
CREATE INDEX providers_search ON providers
    USING gin ((lower(name || ' ' || specialty || ' ' || bio)) gin_trgm_ops)
    WITH (fastupdate = off);

CREATE TABLE patients (
    id                    uuid PRIMARY KEY,
    name                  text        NOT NULL,
    email                 text        NOT NULL,            -- from identity; not editable here
    date_of_birth         date,
    phone                 text,
    address               jsonb,                           -- {line1, line2, city, region, postal_code, country}
    insurance             jsonb,                           -- {payer, member_id, group_number}
    -- A violated reference is answered with 404 provider-not-found (no check-then-set race).
    preferred_provider_id uuid        REFERENCES providers (id),
    version               bigint      NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX patients_by_preferred_provider ON patients (preferred_provider_id)
    WHERE preferred_provider_id IS NOT NULL;
