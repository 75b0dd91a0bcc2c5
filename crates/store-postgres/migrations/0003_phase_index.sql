-- kradle-store-postgres, migration 3: no index on every delivery's phase.
--
-- The index on `phase` held an entry for every version of every delivery, live or dead,
-- and the planner took it for pending deliveries (`phase IN ('queued', 'failed')`): after a
-- few thousand deliveries it read tens of thousands of entries on every claim, where the
-- partial indexes of migration 2 read a few. Pending deliveries are found through those;
-- the phases an operator lists (dead letters, rejected deliveries) keep an index of their
-- own; finished deliveries are many and listed rarely.
DROP INDEX deliveries_by_phase;
CREATE INDEX deliveries_unfinished_by_phase ON deliveries (phase)
    WHERE phase NOT IN ('queued', 'failed', 'processed');

-- A work queue's rows change several times each: vacuum it (and refresh its statistics)
-- after 2% of it changed instead of the default 20%, so dead versions do not pile up in
-- its indexes.
ALTER TABLE deliveries SET (
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02
);
