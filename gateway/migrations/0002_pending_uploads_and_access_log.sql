-- Uploads waiting for their add-record, and the hash-chained access log
-- with its anchors. IF NOT EXISTS: the modules' `open` apply it to bare
-- pools in their tests.
CREATE TABLE IF NOT EXISTS pending_upload (
    id               TEXT PRIMARY KEY,
    idempotency_key  TEXT UNIQUE,
    author           BLOB NOT NULL,
    patient          BLOB NOT NULL,
    category         INTEGER NOT NULL,
    epoch            INTEGER NOT NULL,
    wrapped_key      BLOB NOT NULL,
    amends           BLOB NOT NULL,
    envelopes        TEXT NOT NULL,
    cid              TEXT NOT NULL,
    sha256           BLOB NOT NULL,
    size             INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    state            TEXT NOT NULL,
    tx_hash          BLOB,
    record_id        BLOB
);
CREATE INDEX IF NOT EXISTS pending_upload_state ON pending_upload (state, created_at);
CREATE TABLE IF NOT EXISTS access_log (
    sequence    INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    reader      BLOB NOT NULL,
    patient     BLOB NOT NULL,
    record_id   BLOB NOT NULL,
    basis       INTEGER NOT NULL,
    case_id     BLOB NOT NULL,
    purpose     TEXT NOT NULL,
    salt        BLOB NOT NULL,
    entry_hash  BLOB NOT NULL,
    chain_hash  BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS access_log_patient ON access_log (patient, sequence);
CREATE TABLE IF NOT EXISTS access_log_anchor (
    sequence    INTEGER PRIMARY KEY,
    log_hash    BLOB NOT NULL,
    tx_hash     BLOB NOT NULL,
    block       INTEGER NOT NULL
);
