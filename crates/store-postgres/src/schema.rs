//! The store's schema name and every statement it runs, rendered once for that schema.
//!
//! The host supplies the pool, so the store cannot rely on `search_path`: each statement
//! names its tables with the schema. The name is checked to be a plain lowercase
//! identifier before it is placed in any SQL text.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::PostgresError;

/// The longest schema name accepted (PostgreSQL's limit is 63 bytes; the notification
/// channel name adds a suffix).
pub const MAX_SCHEMA_LEN: usize = 48;

/// Checks a schema name: `[a-z_][a-z0-9_]*`, at most [`MAX_SCHEMA_LEN`] bytes.
pub(crate) fn validate(name: &str) -> Result<(), PostgresError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && name.len() <= MAX_SCHEMA_LEN && !name.starts_with("pg_") {
        Ok(())
    } else {
        Err(PostgresError::InvalidSchema {
            name: name.to_owned(),
            max: MAX_SCHEMA_LEN,
        })
    }
}

/// A 32-bit number derived from the schema name: the first key of the advisory locks the
/// store takes, so stores in different schemas never contend.
pub(crate) fn lock_namespace(schema: &str) -> i32 {
    let hash = Sha256::digest(format!("kradle-store-postgres:{schema}").as_bytes());
    i32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]])
}

/// Every statement of the store, with its schema filled in.
#[derive(Debug)]
pub(crate) struct Sql {
    pub insert_delivery: Arc<str>,
    pub insert_delivery_audited: Arc<str>,
    pub get_delivery: Arc<str>,
    pub get_deliveries: Arc<str>,
    pub list_deliveries: Arc<str>,
    pub load_object: Arc<str>,
    pub load_objects: Arc<str>,
    pub list_objects: Arc<str>,
    pub event_applied: Arc<str>,
    pub events_applied: Arc<str>,
    pub get_intent: Arc<str>,
    pub list_intents: Arc<str>,
    pub get_conflict: Arc<str>,
    pub list_conflicts: Arc<str>,
    pub list_audit: Arc<str>,
    pub get_sync_state: Arc<str>,
    pub cache_get: Arc<str>,
    pub cache_put: Arc<str>,
    pub insert_events: Arc<str>,
    pub delete_events: Arc<str>,
    pub lock_objects: Arc<str>,
    pub insert_objects: Arc<str>,
    pub update_objects: Arc<str>,
    pub update_deliveries: Arc<str>,
    pub upsert_deliveries: Arc<str>,
    pub upsert_intents: Arc<str>,
    pub upsert_conflicts: Arc<str>,
    pub upsert_states: Arc<str>,
    pub insert_audit: Arc<str>,
    pub claim_keys: Arc<str>,
    pub claim_keys_all: Arc<str>,
    pub claim: Arc<str>,
    pub claim_ids: Arc<str>,
    pub release: Arc<str>,
    pub release_all: Arc<str>,
    pub renew: Arc<str>,
    pub queue_stats: Arc<str>,
    pub claim_intents: Arc<str>,
    pub release_intents: Arc<str>,
    pub renew_intents: Arc<str>,
    pub release_all_intents: Arc<str>,
    pub intent_stats: Arc<str>,
}

const PENDING: &str = "phase IN ('queued', 'failed')";
/// Write intents a worker can execute.
const EXECUTABLE: &str = "phase IN ('pending', 'approved', 'failed', 'applying')";

// Runs after the key locks are held, in a fresh snapshot: every claim of these keys that
// committed before is visible, so the live-lease check is exact. Per key: its oldest
// claimable delivery and whether any is under a live lease, each an index probe. The row
// found is locked by its physical address (`ctid`), which also leaves it out if it changed
// since (the conditions are checked again on the locked version). `{body}` is the body
// column, or an empty one.
const CLAIM: &str = "WITH pick AS (
                    SELECT d.provider, d.delivery_id
                    FROM UNNEST($1::text[]) AS k(ordering_key)
                    CROSS JOIN LATERAL (
                        SELECT c.ctid FROM {s}.deliveries c
                        WHERE c.ordering_key = k.ordering_key AND c.{pending}
                          AND (c.next_attempt_at IS NULL OR c.next_attempt_at <= $2)
                          AND (c.lease_until IS NULL OR c.lease_until <= $2)
                        ORDER BY c.seq LIMIT 1
                    ) h
                    JOIN {s}.deliveries d ON d.ctid = h.ctid
                    WHERE NOT EXISTS (
                            SELECT 1 FROM {s}.deliveries f
                            WHERE f.ordering_key = k.ordering_key AND f.{pending}
                              AND f.lease_until IS NOT NULL AND f.lease_until > $2)
                      AND d.{pending}
                      AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= $2)
                      AND (d.lease_until IS NULL OR d.lease_until <= $2)
                    FOR UPDATE OF d SKIP LOCKED
                )
                UPDATE {s}.deliveries d
                SET lease_owner = $3, lease_until = $4, claims = d.claims + 1
                FROM pick
                WHERE d.provider = pick.provider AND d.delivery_id = pick.delivery_id
                RETURNING d.seq, d.record::text, {body}, d.claims";

impl Sql {
    pub(crate) fn new(schema: &str) -> Self {
        let s = format!("\"{schema}\"");
        let r = |template: &str| -> Arc<str> {
            Arc::from(
                template
                    .replace("{s}", &s)
                    .replace("{pending}", PENDING)
                    .replace("{executable}", EXECUTABLE)
                    .as_str(),
            )
        };
        Sql {
            insert_delivery: r("WITH ins AS (
                    INSERT INTO {s}.deliveries
                        (provider, delivery_id, binding, org, phase, next_attempt_at,
                         ordering_key, record, body)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json, $9)
                    ON CONFLICT (provider, delivery_id) DO NOTHING
                    RETURNING 1
                )
                SELECT count(*) FROM (SELECT pg_notify($10, '') FROM ins) AS notified"),
            // The delivery and its audit record in one statement (so one transaction);
            // the audit row is inserted only for a row the first insert returned, so a
            // duplicate appends nothing.
            insert_delivery_audited: r("WITH ins AS (
                    INSERT INTO {s}.deliveries
                        (provider, delivery_id, binding, org, phase, next_attempt_at,
                         ordering_key, record, body)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json, $9)
                    ON CONFLICT (provider, delivery_id) DO NOTHING
                    RETURNING 1
                ), aud AS (
                    INSERT INTO {s}.audit (org, provider, binding, record)
                    SELECT $11, $12, $13, $14::json FROM ins
                )
                SELECT count(*) FROM (SELECT pg_notify($10, '') FROM ins) AS notified"),
            get_delivery: r("SELECT record::text, body FROM {s}.deliveries
                 WHERE provider = $1 AND delivery_id = $2"),
            get_deliveries: r("SELECT u.n, d.record::text, d.body
                 FROM UNNEST($1::text[], $2::text[]) WITH ORDINALITY AS u(provider, delivery_id, n)
                 JOIN {s}.deliveries d
                     ON d.provider = u.provider AND d.delivery_id = u.delivery_id"),
            list_deliveries: r("SELECT record::text, body FROM {s}.deliveries
                 WHERE ($1::text IS NULL OR org = $1) AND ($2::text IS NULL OR provider = $2)
                   AND ($3::text IS NULL OR binding = $3) AND ($4::text IS NULL OR phase = $4)"),
            load_object: r("SELECT state::text FROM {s}.objects
                 WHERE provider = $1 AND binding = $2 AND kind = $3 AND native_id = $4"),
            load_objects: r("SELECT u.n, o.state::text
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
                     WITH ORDINALITY AS u(provider, binding, kind, native_id, n)
                 JOIN {s}.objects o ON o.provider = u.provider AND o.binding = u.binding
                     AND o.kind = u.kind AND o.native_id = u.native_id"),
            list_objects: r("SELECT state::text FROM {s}.objects
                 WHERE ($1::text IS NULL OR org = $1) AND ($2::text IS NULL OR provider = $2)
                   AND ($3::text IS NULL OR binding = $3) AND ($4::text IS NULL OR kind = $4)"),
            event_applied: r("SELECT EXISTS (SELECT 1 FROM {s}.applied_events
                 WHERE provider = $1 AND delivery_id = $2 AND action = $3 AND kind = $4
                   AND native_id = $5)"),
            events_applied: r("SELECT u.n
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                     WITH ORDINALITY AS u(provider, delivery_id, action, kind, native_id, n)
                 JOIN {s}.applied_events e ON e.provider = u.provider
                     AND e.delivery_id = u.delivery_id AND e.action = u.action
                     AND e.kind = u.kind AND e.native_id = u.native_id"),
            get_intent: r("SELECT record::text FROM {s}.write_intents WHERE id = $1"),
            list_intents: r("SELECT record::text FROM {s}.write_intents
                 WHERE ($1::text IS NULL OR org = $1) AND ($2::text IS NULL OR provider = $2)
                   AND ($3::text IS NULL OR binding = $3) AND ($4::text IS NULL OR kind = $4)
                   AND ($5::text IS NULL OR phase = $5)"),
            get_conflict: r("SELECT record::text FROM {s}.conflicts WHERE id = $1"),
            list_conflicts: r("SELECT record::text FROM {s}.conflicts
                 WHERE ($1::text IS NULL OR org = $1) AND ($2::text IS NULL OR provider = $2)
                   AND ($3::text IS NULL OR binding = $3) AND ($4::text IS NULL OR kind = $4)"),
            list_audit: r("SELECT record::text FROM {s}.audit
                 WHERE ($1::text IS NULL OR org = $1) AND ($2::text IS NULL OR provider = $2)
                   AND ($3::text IS NULL OR binding = $3)
                 ORDER BY seq"),
            get_sync_state: r("SELECT record::text FROM {s}.sync_states WHERE scope = $1"),
            cache_get: r("SELECT etag, last_modified, body FROM {s}.http_cache WHERE key = $1"),
            cache_put: r("INSERT INTO {s}.http_cache (key, etag, last_modified, body)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (key) DO UPDATE SET etag = EXCLUDED.etag,
                     last_modified = EXCLUDED.last_modified, body = EXCLUDED.body"),
            insert_events: r("WITH input AS (
                    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                        WITH ORDINALITY AS t(provider, delivery_id, action, kind, native_id, n)
                ), ins AS (
                    INSERT INTO {s}.applied_events (provider, delivery_id, action, kind, native_id)
                    SELECT provider, delivery_id, action, kind, native_id FROM input ORDER BY n
                    ON CONFLICT DO NOTHING
                    RETURNING provider, delivery_id, action, kind, native_id
                )
                SELECT input.n FROM input
                JOIN ins USING (provider, delivery_id, action, kind, native_id)"),
            delete_events: r("DELETE FROM {s}.applied_events e
                 USING UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                     AS u(provider, delivery_id, action, kind, native_id)
                 WHERE e.provider = u.provider AND e.delivery_id = u.delivery_id
                   AND e.action = u.action AND e.kind = u.kind AND e.native_id = u.native_id"),
            lock_objects: r("SELECT u.n, o.revision
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
                     WITH ORDINALITY AS u(provider, binding, kind, native_id, n)
                 JOIN {s}.objects o ON o.provider = u.provider AND o.binding = u.binding
                     AND o.kind = u.kind AND o.native_id = u.native_id
                 ORDER BY u.n
                 FOR UPDATE OF o"),
            insert_objects: r("INSERT INTO {s}.objects
                     (provider, binding, kind, native_id, org, revision, state)
                 SELECT provider, binding, kind, native_id, org, revision, state::json
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                             $6::int8[], $7::text[])
                     AS u(provider, binding, kind, native_id, org, revision, state)
                 ON CONFLICT DO NOTHING"),
            update_objects: r("UPDATE {s}.objects o
                 SET org = u.org, revision = u.revision, state = u.state::json
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                             $6::int8[], $7::text[], $8::int8[])
                     AS u(provider, binding, kind, native_id, org, revision, state, expected)
                 WHERE o.provider = u.provider AND o.binding = u.binding AND o.kind = u.kind
                   AND o.native_id = u.native_id AND o.revision = u.expected"),
            // Updates stored deliveries, keeping their bodies (fixed when first stored),
            // so a commit does not send them; returns the ordinals it updated.
            update_deliveries: r("WITH up AS (
                    UPDATE {s}.deliveries d SET
                        binding = u.binding, org = u.org, phase = u.phase,
                        next_attempt_at = u.next_attempt_at, record = u.record::json,
                        lease_owner = NULL, lease_until = NULL, claims = 0
                    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                $6::timestamptz[], $7::text[])
                        WITH ORDINALITY AS u(provider, delivery_id, binding, org, phase,
                                             next_attempt_at, record, n)
                    WHERE d.provider = u.provider AND d.delivery_id = u.delivery_id
                    RETURNING u.n
                )
                SELECT coalesce((SELECT array_agg(n) FROM up), '{}'::bigint[]),
                    (SELECT count(*) FROM (SELECT pg_notify($8, '') FROM up LIMIT 1) AS notified)"),
            upsert_deliveries: r("WITH up AS (
                    INSERT INTO {s}.deliveries
                        (provider, delivery_id, binding, org, phase, next_attempt_at,
                         ordering_key, record, body)
                    SELECT provider, delivery_id, binding, org, phase, next_attempt_at,
                           ordering_key, record::json, body
                    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                $6::timestamptz[], $7::text[], $8::text[], $9::bytea[])
                        AS u(provider, delivery_id, binding, org, phase, next_attempt_at,
                             ordering_key, record, body)
                    ON CONFLICT (provider, delivery_id) DO UPDATE SET
                        binding = EXCLUDED.binding, org = EXCLUDED.org, phase = EXCLUDED.phase,
                        next_attempt_at = EXCLUDED.next_attempt_at, record = EXCLUDED.record,
                        lease_owner = NULL, lease_until = NULL,
                        claims = 0
                    RETURNING 1
                )
                SELECT count(*) FROM (SELECT pg_notify($10, '') FROM up LIMIT 1) AS notified"),
            // An executable intent is work for the workers: the statement notifies them.
            upsert_intents: r("WITH up AS (
                    INSERT INTO {s}.write_intents
                        (id, org, provider, binding, kind, native_id, phase, record,
                         created_at, next_attempt_at)
                    SELECT id, org, provider, binding, kind, native_id, phase, record::json,
                        (record::json->>'created_at')::timestamptz,
                        (record::json->>'next_attempt_at')::timestamptz
                    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                $6::text[], $7::text[], $8::text[])
                        AS u(id, org, provider, binding, kind, native_id, phase, record)
                    ON CONFLICT (id) DO UPDATE SET org = EXCLUDED.org,
                        provider = EXCLUDED.provider, binding = EXCLUDED.binding,
                        kind = EXCLUDED.kind, native_id = EXCLUDED.native_id,
                        phase = EXCLUDED.phase, record = EXCLUDED.record,
                        created_at = EXCLUDED.created_at,
                        next_attempt_at = EXCLUDED.next_attempt_at
                    RETURNING phase
                )
                SELECT count(*) FROM (SELECT pg_notify($9, '') FROM up
                    WHERE phase IN ('pending', 'approved', 'failed') LIMIT 1) AS notified"),
            upsert_conflicts: r("INSERT INTO {s}.conflicts
                     (id, org, provider, binding, kind, native_id, record)
                 SELECT id, org, provider, binding, kind, native_id, record::json
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                             $6::text[], $7::text[])
                     AS u(id, org, provider, binding, kind, native_id, record)
                 ON CONFLICT (id) DO UPDATE SET org = EXCLUDED.org,
                     provider = EXCLUDED.provider, binding = EXCLUDED.binding,
                     kind = EXCLUDED.kind, native_id = EXCLUDED.native_id,
                     record = EXCLUDED.record"),
            upsert_states: r(
                "INSERT INTO {s}.sync_states (scope, provider, binding, record)
                 SELECT scope, provider, binding, record::json
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
                     AS u(scope, provider, binding, record)
                 ON CONFLICT (scope) DO UPDATE SET provider = EXCLUDED.provider,
                     binding = EXCLUDED.binding, record = EXCLUDED.record",
            ),
            insert_audit: r("INSERT INTO {s}.audit (org, provider, binding, record)
                 SELECT org, provider, binding, record::json
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
                     WITH ORDINALITY AS u(org, provider, binding, record, n)
                 ORDER BY n"),
            // Candidate ordering keys, oldest head first: the pending deliveries are read
            // oldest first ($5 of them at most), grouped by key, and keys with a live lease
            // left out; each kept only if this transaction gets its advisory lock (a
            // concurrent claimer holding it skips the key), and no more locked than are
            // wanted ($4), so a concurrent claimer finds the next ones free. Also returns
            // how many deliveries were read: when that is all $5 and too few keys came
            // out, `claim_keys_all` looks further.
            claim_keys: r("WITH w AS (
                    SELECT d.ordering_key, d.seq FROM {s}.deliveries d
                    WHERE d.{pending}
                      AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= $1)
                      AND (d.lease_until IS NULL OR d.lease_until <= $1)
                    ORDER BY d.seq
                    LIMIT $5
                )
                SELECT (SELECT count(*) FROM w), ARRAY(
                    SELECT c.ordering_key FROM (
                        SELECT k.ordering_key FROM (
                            SELECT w.ordering_key, min(w.seq) AS head FROM w
                            GROUP BY w.ordering_key
                        ) k
                        WHERE NOT EXISTS (
                            SELECT 1 FROM {s}.deliveries f
                            WHERE f.ordering_key = k.ordering_key AND f.{pending}
                              AND f.lease_until IS NOT NULL AND f.lease_until > $1)
                        ORDER BY k.head
                        LIMIT $2
                    ) c
                    WHERE pg_try_advisory_xact_lock($3, hashtext(c.ordering_key))
                    LIMIT $4)"),
            // The same over every pending key, for when the oldest deliveries belong to
            // few keys: the keys are read from the index one by one (a skip scan), each
            // with its oldest claimable delivery and its lease from an index probe.
            claim_keys_all: r("WITH RECURSIVE keys(ordering_key) AS (
                    (SELECT d.ordering_key FROM {s}.deliveries d WHERE d.{pending}
                     ORDER BY d.ordering_key LIMIT 1)
                    UNION ALL
                    SELECT (SELECT d.ordering_key FROM {s}.deliveries d
                            WHERE d.{pending} AND d.ordering_key > keys.ordering_key
                            ORDER BY d.ordering_key LIMIT 1)
                    FROM keys WHERE keys.ordering_key IS NOT NULL
                )
                SELECT c.ordering_key FROM (
                    SELECT k.ordering_key FROM keys k
                    CROSS JOIN LATERAL (
                        SELECT d.seq FROM {s}.deliveries d
                        WHERE d.ordering_key = k.ordering_key AND d.{pending}
                          AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= $1)
                          AND (d.lease_until IS NULL OR d.lease_until <= $1)
                        ORDER BY d.seq LIMIT 1
                    ) h
                    WHERE k.ordering_key IS NOT NULL
                      AND NOT EXISTS (
                          SELECT 1 FROM {s}.deliveries f
                          WHERE f.ordering_key = k.ordering_key AND f.{pending}
                            AND f.lease_until IS NOT NULL AND f.lease_until > $1)
                    ORDER BY h.seq
                    LIMIT $2
                ) c
                WHERE pg_try_advisory_xact_lock($3, hashtext(c.ordering_key))
                LIMIT $4"),
            claim: r(&CLAIM.replace("{body}", "d.body")),
            // The same claim without the payloads, for workers that process by id.
            claim_ids: r(&CLAIM.replace("{body}", "''::bytea")),
            release: r("WITH rel AS (
                    UPDATE {s}.deliveries d SET lease_owner = NULL, lease_until = NULL,
                        claims = GREATEST(d.claims - 1, 0)
                    FROM UNNEST($2::text[], $3::text[]) AS u(provider, delivery_id)
                    WHERE d.lease_owner = $1 AND d.provider = u.provider
                      AND d.delivery_id = u.delivery_id
                    RETURNING 1
                )
                SELECT count(*) FROM (SELECT pg_notify($4, '') FROM rel) AS notified"),
            release_all: r("WITH rel AS (
                    UPDATE {s}.deliveries SET lease_owner = NULL, lease_until = NULL,
                        claims = GREATEST(claims - 1, 0)
                    WHERE lease_owner = $1
                    RETURNING 1
                )
                SELECT count(*) FROM (SELECT pg_notify($2, '') FROM rel) AS notified"),
            renew: r("UPDATE {s}.deliveries SET lease_until = $2
                 WHERE lease_owner = $1 AND {pending} AND lease_until > $3"),
            // The pending rows come from the partial index of pending deliveries.
            queue_stats: r("SELECT count(*),
                        count(*) FILTER (WHERE lease_until > $1),
                        count(*) FILTER (WHERE next_attempt_at > $1),
                        min((record->>'received_at')::timestamptz)
                 FROM {s}.deliveries WHERE {pending}"),
            // The oldest executable intent of each object, when due and when no intent of
            // the object holds a live lease; oldest first. Claims of intents run one at a
            // time (an advisory lock taken before, in the same transaction), so the lease
            // check sees every earlier claim.
            claim_intents: r("WITH heads AS (
                    SELECT DISTINCT ON (provider, binding, kind, native_id)
                        id, created_at, next_attempt_at, provider, binding, kind, native_id
                    FROM {s}.write_intents
                    WHERE {executable} AND binding = ANY($5::text[])
                    ORDER BY provider, binding, kind, native_id, created_at, id
                ), free AS (
                    SELECT h.id, h.created_at FROM heads h
                    WHERE (h.next_attempt_at IS NULL OR h.next_attempt_at <= $1)
                      AND NOT EXISTS (SELECT 1 FROM {s}.write_intents o
                          WHERE o.provider = h.provider AND o.binding = h.binding
                            AND o.kind = h.kind AND o.native_id = h.native_id
                            AND o.{executable} AND o.lease_until > $1)
                    ORDER BY h.created_at, h.id
                    LIMIT $2
                )
                UPDATE {s}.write_intents w SET lease_owner = $3, lease_until = $4
                FROM free WHERE w.id = free.id
                RETURNING w.id, w.created_at"),
            release_intents: r("WITH rel AS (
                    UPDATE {s}.write_intents SET lease_owner = NULL, lease_until = NULL
                    WHERE lease_owner = $1 AND id = ANY($2::text[])
                    RETURNING 1
                )
                SELECT count(*) FROM (SELECT pg_notify($3, '') FROM rel) AS notified"),
            renew_intents: r("UPDATE {s}.write_intents SET lease_until = $2
                 WHERE lease_owner = $1 AND {executable} AND lease_until > $3"),
            release_all_intents: r("WITH rel AS (
                    UPDATE {s}.write_intents SET lease_owner = NULL, lease_until = NULL
                    WHERE lease_owner = $1
                    RETURNING 1
                )
                SELECT count(*) FROM (SELECT pg_notify($2, '') FROM rel) AS notified"),
            intent_stats: r("SELECT count(*), count(*) FILTER (WHERE lease_until > $1)
                 FROM {s}.write_intents WHERE {executable}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for ok in ["kradle_sync", "_x", "t1_abc"] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "Upper",
            "a-b",
            "a\"b",
            "pg_catalog",
            "x; DROP TABLE y",
            &"a".repeat(MAX_SCHEMA_LEN + 1),
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn statements_name_the_schema() {
        let sql = Sql::new("tenant_a");
        assert!(sql.claim.contains("\"tenant_a\".deliveries"));
        assert!(!sql.claim.contains("{s}") && !sql.claim.contains("{pending}"));
        assert_ne!(lock_namespace("a"), lock_namespace("b"));
    }
}
