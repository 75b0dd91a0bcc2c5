-- kradle-store-postgres, migration 2: indexes that keep a claim's cost independent of the
-- backlog's size.
--
-- A claim looks for the oldest claimable delivery of each ordering key and skips keys with
-- a delivery under a live lease. Without these, it read every pending delivery on every
-- claim (and a hot key's deliveries once per candidate), which grew slow under a backlog of
-- thousands.

-- Pending deliveries in arrival order: a claim reads the oldest ones first and stops once
-- it has enough keys.
CREATE INDEX deliveries_pending_by_seq ON deliveries (seq)
    WHERE phase IN ('queued', 'failed');

-- Pending deliveries that carry a lease (live or expired), by key: whether a key has a
-- live lease is one index probe.
CREATE INDEX deliveries_leased ON deliveries (ordering_key, lease_until)
    WHERE phase IN ('queued', 'failed') AND lease_until IS NOT NULL;
