-- Billing owns invoices, their lines, payments and refunds, the audit trail of
-- every change, and patients' insurance details. Appointments here are a read
-- model fed by scheduling's events (billing never reads another service's tables).
-- Amounts are bigint minor units with an ISO 4217 code; there are no floats.

CREATE TABLE appointments (
    id                    uuid PRIMARY KEY,
    patient_id            uuid        NOT NULL,
    provider_id           uuid        NOT NULL,
    appointment_type_name text        NOT NULL,
    start_at              timestamptz NOT NULL,
    end_at                timestamptz NOT NULL,
    time_zone             text        NOT NULL,
    price_minor           bigint      NOT NULL CHECK (price_minor >= 0),
    currency              char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status                text        NOT NULL CHECK (status IN ('booked', 'checked_in', 'completed', 'cancelled', 'no_show')),
    -- scheduling's version: an older event never overwrites a newer one.
    version               integer     NOT NULL,
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE invoices (
    id                     uuid PRIMARY KEY,
    number                 bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    patient_id             uuid        NOT NULL,
    provider_id            uuid        NOT NULL,
    appointment_id         uuid        NOT NULL,
    reason                 text        NOT NULL CHECK (reason IN ('completed', 'late_cancellation', 'no_show')),
    status                 text        NOT NULL CHECK (status IN ('draft', 'issued', 'paid', 'void')),
    currency               char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- Totals as the domain computed them from the lines and payments, kept
    -- with the row (under its lock) so lists and balances need no recomputation.
    net_minor              bigint      NOT NULL DEFAULT 0,
    tax_minor              bigint      NOT NULL DEFAULT 0,
    gross_minor            bigint      NOT NULL DEFAULT 0 CHECK (gross_minor >= 0),
    paid_minor             bigint      NOT NULL DEFAULT 0 CHECK (paid_minor >= 0),
    due_minor              bigint      GENERATED ALWAYS AS (gross_minor - paid_minor) STORED,
    issued_at              timestamptz,
    paid_at                timestamptz,
    voided_at              timestamptz,
    voided_by              uuid,
    void_reason            text,
    billed_to_insurance_at timestamptz,
    billed_to_insurance_by uuid,
    -- The insurance details the invoice was billed with (a snapshot).
    insurance              jsonb,
    -- The appointment event that issued the invoice.
    source_event_id        uuid,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    -- One invoice per fact, even when the fact arrives under another event id.
    CONSTRAINT invoices_one_per_appointment_reason UNIQUE (appointment_id, reason),
    CHECK (status <> 'void' OR (voided_at IS NOT NULL AND void_reason IS NOT NULL)),
    CHECK (status <> 'paid' OR (paid_at IS NOT NULL AND gross_minor - paid_minor <= 0)),
    CHECK (status = 'draft' OR issued_at IS NOT NULL)
);
CREATE INDEX invoices_patient ON invoices (patient_id, id DESC);
CREATE INDEX invoices_provider ON invoices (provider_id, id DESC);

CREATE TABLE invoice_lines (
    id              uuid PRIMARY KEY,
    invoice_id      uuid        NOT NULL REFERENCES invoices (id),
    position        integer     NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('charge', 'credit')),
    description     text        NOT NULL,
    -- Net amount in minor units; credits are negative and name the line they credit.
    amount_minor    bigint      NOT NULL,
    tax_rate_bp     integer     NOT NULL CHECK (tax_rate_bp BETWEEN 0 AND 10000),
    credits_line_id uuid        REFERENCES invoice_lines (id),
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (invoice_id, position),
    CHECK ((kind = 'charge' AND amount_minor >= 0 AND credits_line_id IS NULL)
        OR (kind = 'credit' AND amount_minor < 0 AND credits_line_id IS NOT NULL))
);

CREATE TABLE payments (
    id                  uuid PRIMARY KEY,
    invoice_id          uuid        NOT NULL REFERENCES invoices (id),
    kind                text        NOT NULL CHECK (kind IN ('payment', 'refund')),
    -- Always positive; the kind says which way the money went.
    amount_minor        bigint      NOT NULL CHECK (amount_minor > 0),
    currency            char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    method              text        NOT NULL CHECK (method IN ('cash', 'card', 'bank_transfer', 'insurance', 'other')),
    reference           text,
    processor           text        NOT NULL,
    processor_reference text,
    recorded_by         uuid        NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_invoice ON payments (invoice_id, recorded_at);

-- Every change to an invoice: what, who (NULL: billing itself, following the
-- event in source_event_id) and when.
CREATE TABLE invoice_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id      uuid        NOT NULL REFERENCES invoices (id),
    action          text        NOT NULL CHECK (action IN ('issued', 'payment_recorded', 'paid', 'credited', 'refunded', 'voided', 'billed_to_insurance')),
    actor_id        uuid,
    actor_role      text,
    source_event_id uuid,
    detail          jsonb       NOT NULL DEFAULT '{}',
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoice_events_invoice ON invoice_events (invoice_id, id);

-- Insurance details per patient; a change adds a version, the newest is current.
CREATE TABLE patient_insurance (
    patient_id   uuid        NOT NULL,
    version      integer     NOT NULL CHECK (version >= 1),
    payer        text        NOT NULL,
    member_id    text        NOT NULL,
    group_number text,
    recorded_by  uuid        NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (patient_id, version)
);

-- History is never edited: lines, payments, the audit trail and insurance
-- versions only ever gain rows.
CREATE FUNCTION billing_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER invoice_lines_append_only BEFORE UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION billing_append_only();
CREATE TRIGGER payments_append_only BEFORE UPDATE OR DELETE ON payments
    FOR EACH ROW EXECUTE FUNCTION billing_append_only();
CREATE TRIGGER invoice_events_append_only BEFORE UPDATE OR DELETE ON invoice_events
    FOR EACH ROW EXECUTE FUNCTION billing_append_only();
CREATE TRIGGER patient_insurance_append_only BEFORE UPDATE OR DELETE ON patient_insurance
    FOR EACH ROW EXECUTE FUNCTION billing_append_only();
