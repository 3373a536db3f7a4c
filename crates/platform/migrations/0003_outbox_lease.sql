-- The relay's lease: a relay claims a batch (claimed_by, claimed_until) in a
-- short transaction of its own, publishes it outside any transaction, then
-- marks it published or releases it. Another relay skips claimed rows until
-- the claim runs out, so a relay that died holding a claim delays its rows by
-- one lease, never loses them.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS claimed_by uuid;
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS claimed_until timestamptz;
