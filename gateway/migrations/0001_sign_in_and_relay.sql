-- Sign-in nonces: single use (deleted when used) and short-lived.
CREATE TABLE siwe_nonces (
    nonce TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);

-- Idempotency keys of relays (and uploads): the first result of a request,
-- returned again to a retry with the same key. `owner` is the signed-in
-- address (keys are per caller); `request_hash` the SHA-256 of the request;
-- `state` is 'pending' until `status` and `response` are stored ('done').
-- `tx_hash` is written before the transaction is sent, so that a retry after
-- a crash finds it.
CREATE TABLE idempotency_keys (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    scope TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    tx_hash TEXT,
    status INTEGER,
    response TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (owner, key)
);
