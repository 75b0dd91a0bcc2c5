-- kradle-store-postgres, migration 1: every table of the store.
--
-- Applied by the crate's own runner inside the store's schema (the runner sets
-- `search_path` to that schema for the migration's transaction), so no name here is
-- qualified and the host's own tables and migrations are never touched.
--
-- Records are kept as `json` (exact text, as serde_json wrote it) beside the columns that
-- queries filter on. `json` rather than `jsonb`: it keeps the text byte for byte (`-0.0`,
-- `\u0000` in a hostile payload's strings), so the store reads back exactly what the
-- memory store would hold. Cast to `jsonb` in ad-hoc queries when needed.

-- Webhook deliveries, and the work queue: a delivery is pending while its phase is
-- `queued` or `failed`; a worker's claim is the lease columns.
CREATE TABLE deliveries (
    provider        text        NOT NULL,
    delivery_id     text        NOT NULL,
    seq             bigserial   NOT NULL,
    binding         text        NOT NULL,
    org             text        NOT NULL,
    phase           text        NOT NULL,
    next_attempt_at timestamptz,
    ordering_key    text        NOT NULL,
    record          json        NOT NULL,
    body            bytea       NOT NULL,
    lease_owner     text,
    lease_until     timestamptz,
    claims          integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, delivery_id)
);
CREATE INDEX deliveries_pending ON deliveries (ordering_key, seq)
    WHERE phase IN ('queued', 'failed');
CREATE INDEX deliveries_by_phase ON deliveries (phase);
CREATE INDEX deliveries_by_lease_owner ON deliveries (lease_owner)
    WHERE lease_owner IS NOT NULL;

-- Object projections, with the revision used for optimistic concurrency.
CREATE TABLE objects (
    provider  text   NOT NULL,
    binding   text   NOT NULL,
    kind      text   NOT NULL,
    native_id text   NOT NULL,
    org       text   NOT NULL,
    revision  bigint NOT NULL,
    state     json   NOT NULL,
    PRIMARY KEY (provider, binding, kind, native_id)
);
CREATE INDEX objects_by_org ON objects (org);

-- Applied event keys (invariant 1): an event is applied at most once.
CREATE TABLE applied_events (
    provider    text NOT NULL,
    delivery_id text NOT NULL,
    action      text NOT NULL,
    kind        text NOT NULL,
    native_id   text NOT NULL,
    PRIMARY KEY (provider, delivery_id, action, kind, native_id)
);

CREATE TABLE write_intents (
    id        text PRIMARY KEY,
    org       text NOT NULL,
    provider  text NOT NULL,
    binding   text NOT NULL,
    kind      text NOT NULL,
    native_id text NOT NULL,
    phase     text NOT NULL,
    record    json NOT NULL
);
CREATE INDEX write_intents_by_binding ON write_intents (provider, binding);
CREATE INDEX write_intents_by_phase ON write_intents (phase);

CREATE TABLE conflicts (
    id        text PRIMARY KEY,
    org       text NOT NULL,
    provider  text NOT NULL,
    binding   text NOT NULL,
    kind      text NOT NULL,
    native_id text NOT NULL,
    record    json NOT NULL
);
CREATE INDEX conflicts_by_binding ON conflicts (provider, binding);

-- Append-only; `seq` is the append order.
CREATE TABLE audit (
    seq      bigserial PRIMARY KEY,
    org      text NOT NULL,
    provider text NOT NULL,
    binding  text NOT NULL,
    record   json NOT NULL
);
CREATE INDEX audit_by_binding ON audit (provider, binding, seq);

-- Cursors and watermarks; `scope` is the scope as serde_json writes it.
CREATE TABLE sync_states (
    scope    text PRIMARY KEY,
    provider text NOT NULL,
    binding  text NOT NULL,
    record   json NOT NULL
);

-- Conditional-read cache (ETag / Last-Modified) by request key.
CREATE TABLE http_cache (
    key           text PRIMARY KEY,
    etag          text  NOT NULL,
    last_modified text,
    body          bytea NOT NULL
);
