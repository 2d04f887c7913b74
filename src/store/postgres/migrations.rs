//! The schema, as embedded, versioned migrations ([`PgStore::migrate`](super::PgStore::migrate) applies them).

/// The migrations, in order: version n is `MIGRATIONS[n - 1]`.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tidepass_sessions (
    sid                 bytea PRIMARY KEY,
    subject             text NOT NULL,
    created_at          bigint NOT NULL,
    generation          bigint NOT NULL,
    secret_id           smallint NOT NULL,
    rotated_at          bigint NOT NULL,
    last_used_at        bigint NOT NULL,
    grace_replays       integer NOT NULL,
    idle_expires_at     bigint NOT NULL,
    absolute_expires_at bigint NOT NULL,
    revoked_reason      text,
    revoked_at          bigint,
    ends_at             bigint NOT NULL,
    body                jsonb NOT NULL
) WITH (fillfactor = 80);
CREATE INDEX tidepass_sessions_subject ON tidepass_sessions (subject, created_at);
CREATE INDEX tidepass_sessions_ends ON tidepass_sessions (ends_at);
CREATE TABLE tidepass_revocations (
    version bigint PRIMARY KEY,
    target  smallint NOT NULL,
    id      bytea NOT NULL,
    before  bigint NOT NULL,
    expires bigint NOT NULL
);
CREATE INDEX tidepass_revocations_expires ON tidepass_revocations (expires);
CREATE TABLE tidepass_revocation_meta (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    next  bigint NOT NULL,
    floor bigint NOT NULL,
    epoch bigint NOT NULL DEFAULT (1 + floor(random() * 4e18))::bigint
);
INSERT INTO tidepass_revocation_meta (next, floor) VALUES (0, 0);
"#,
    // 2: the body as `json` (its text, kept as sent) rather than `jsonb`: every refresh returns
    // it, and `jsonb` made the server re-print it to text each time. Still queryable with the
    // JSON operators.
    r#"
ALTER TABLE tidepass_sessions ALTER COLUMN body TYPE json USING body::json;
"#,
    // 3: the revocation log's history fingerprints (0 for entries written before: unknown).
    r#"
ALTER TABLE tidepass_revocations ADD COLUMN head bigint NOT NULL DEFAULT 0;
ALTER TABLE tidepass_revocation_meta
    ADD COLUMN head bigint NOT NULL DEFAULT 0,
    ADD COLUMN floor_head bigint NOT NULL DEFAULT 0;
"#,
    // 4: the DPoP key a session is bound to (its RFC 7638 thumbprint), beside the body that
    // holds it too, so the one-statement rotation can compare it.
    r#"
ALTER TABLE tidepass_sessions ADD COLUMN dpop_jkt bytea;
"#,
    // 5: the shared key ring (one row: its version and the document, private parts sealed).
    r#"
CREATE TABLE tidepass_key_ring (
    id       smallint PRIMARY KEY CHECK (id = 1),
    version  bigint NOT NULL,
    doc      bytea NOT NULL
);
"#,
    // 6: the risk policy's fingerprint of the login context, beside the body that holds it
    // too, so the one-statement rotation can compare it (not indexed: a rotation stays a HOT
    // update).
    r#"
ALTER TABLE tidepass_sessions ADD COLUMN risk_print bigint;
"#,
    // 7: the next Token Status List index to hand out (one counter for every instance).
    r#"
ALTER TABLE tidepass_revocation_meta ADD COLUMN status_next bigint NOT NULL DEFAULT 0;
"#,
];
