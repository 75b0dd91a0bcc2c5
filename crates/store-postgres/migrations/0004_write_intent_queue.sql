-- kradle-store-postgres, migration 4: write intents as a work queue.
--
-- Workers claim write intents with a lease, as they claim deliveries: an intent is
-- executable while pending, approved, failed (waiting for its retry time) or applying (a
-- worker that died left it so), and only the oldest executable intent of an object is
-- claimable, so writes to one object leave in order, one at a time. The columns mirror
-- the record's `created_at` and `next_attempt_at`, which the store writes on every upsert.
ALTER TABLE write_intents
    ADD COLUMN created_at      timestamptz,
    ADD COLUMN next_attempt_at timestamptz,
    ADD COLUMN lease_owner     text,
    ADD COLUMN lease_until     timestamptz;

UPDATE write_intents
SET created_at = (record->>'created_at')::timestamptz,
    next_attempt_at = (record->>'next_attempt_at')::timestamptz;

CREATE INDEX write_intents_executable ON write_intents (provider, binding, kind, native_id, created_at, id)
    WHERE phase IN ('pending', 'approved', 'failed', 'applying');
CREATE INDEX write_intents_by_lease_owner ON write_intents (lease_owner)
    WHERE lease_owner IS NOT NULL;
