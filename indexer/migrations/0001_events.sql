-- The index: every MedVault log, and projections of them for queries.
--
-- One schema for SQLite and Postgres (through sqlx's `Any` driver), so only
-- types and statements both understand: TEXT, BIGINT, no AUTOINCREMENT or
-- SERIAL, no BLOB or BYTEA.
--
-- Representation, in every table:
-- * addresses: lowercase 0x-hex TEXT (42 characters);
-- * uint256 ids (record_id, request_id, case_id): 0x followed by 64
--   zero-padded lowercase hex digits, so that text order is numeric order;
-- * bytes and bytes32: lowercase 0x-hex TEXT;
-- * block numbers, log indexes, timestamps (seconds), uint8/32/40 fields:
--   BIGINT;
-- * uint64 category masks (read_mask, write_mask): BIGINT holding the mask's
--   64 bits as a two's-complement i64 (bit 63, category 63, makes it
--   negative). Both databases then answer `(read_mask & (1 << c)) <> 0` for
--   any category c from 0 to 63; read it back as i64 and cast to u64.
--
-- Every table below but `cursor` is append-only, and every row carries the
-- log it came from: chain_id, block_number, log_index, tx_hash, and the
-- block's time (block_time, seconds). Rolling back a reorg is then one
-- `DELETE FROM t WHERE chain_id = $1 AND block_number > $2` per table, and
-- the current state of anything (a grant, a request, a role) is the latest
-- row for its key in (block_number, log_index) order. Rows are unique on
-- (chain_id, tx_hash, log_index), so a replayed batch inserts nothing.

-- Every log of the contract, decoded.
-- name: the event's name as in the ABI (`Granted`, `RecordAdded`, ...).
-- patient: the patient the event touches, when there is one (for events that
--   name only a record, the record's patient).
-- account: the counterpart: grantee, staff, recipient, guardian, device,
--   custodian, organisation, relayer, author, raiser; NULL when none.
-- record_id: the record the event names, if any.
-- data: every decoded field as a JSON object (camelCase, as in the ABI;
--   integers as JSON numbers, except uint64 masks and uint256 ids, which are
--   strings as above).
CREATE TABLE events (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    name TEXT NOT NULL,
    patient TEXT,
    account TEXT,
    record_id TEXT,
    data TEXT NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX events_by_block ON events (chain_id, block_number, log_index);
CREATE INDEX events_by_patient ON events (chain_id, patient, block_number, log_index);
CREATE INDEX events_by_account ON events (chain_id, account, block_number, log_index);

-- The hashes of indexed blocks: every block that holds a log, the last block
-- of every batch, and every block near the head (within the reorg limit).
-- The follower checks them against the chain's parent hashes.
CREATE TABLE blocks (
    chain_id BIGINT NOT NULL,
    number BIGINT NOT NULL,
    hash TEXT NOT NULL,
    parent_hash TEXT NOT NULL,
    timestamp BIGINT NOT NULL,
    PRIMARY KEY (chain_id, number)
);

-- How far the index has reached on each chain: every log of `contract` up to
-- and including block_number (whose hash is block_hash) is in. Updated in the
-- same transaction as the rows.
CREATE TABLE cursor (
    chain_id BIGINT NOT NULL PRIMARY KEY,
    contract TEXT NOT NULL,
    block_number BIGINT NOT NULL,
    block_hash TEXT
);

-- Who holds which part, one row per change. The current state of a key
-- (chain_id, role, account, subject) is its latest row.
-- role: organisation | staff | patient | guardian | device | relayer |
--   custodian | owner | pending_owner.
-- account: the organisation, staff member, patient, guardian, device,
--   relayer, custodian or (pending) owner.
-- subject: the organisation of a staff member; the patient of a guardian,
--   device or custodian; '' otherwise.
-- status: what the row says: added, removed (staff, guardian, device,
--   custodian replaced), suspended, restored (organisation), registered
--   (patient), set (guardian, custodian), enabled, disabled (relayer),
--   transferred (owner: the new owner; the previous owner gets `removed`),
--   started (pending_owner).
-- active: 1 when the account holds the part after this row, else 0.
-- staff_role: IMedVault.Role (1 doctor, 2 nurse, 3 lab, 4 emergency).
-- licence_expiry, since: a staff member's, in seconds.
-- powers: a guardian's powers bitmask. category: a device's category.
CREATE TABLE participants (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    role TEXT NOT NULL,
    account TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    active BIGINT NOT NULL,
    staff_role BIGINT,
    licence_expiry BIGINT,
    since BIGINT,
    powers BIGINT,
    category BIGINT,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX participants_by_account ON participants (chain_id, account, block_number, log_index);
CREATE INDEX participants_by_subject ON participants (chain_id, subject, role, block_number, log_index);
CREATE INDEX participants_by_role ON participants (chain_id, role, block_number, log_index);

-- Each account's encryption public key (0x-hex, as registered); the latest
-- row is the current key.
CREATE TABLE encryption_keys (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    account TEXT NOT NULL,
    public_key TEXT NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX encryption_keys_by_account ON encryption_keys (chain_id, account, block_number, log_index);

-- Record headers (RecordAdded). wrapped_key is '0x' when the author
-- published record-level envelopes instead; amends is the zero id when the
-- record amends nothing.
CREATE TABLE records (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    record_id TEXT NOT NULL,
    patient TEXT NOT NULL,
    author TEXT NOT NULL,
    category BIGINT NOT NULL,
    cid TEXT NOT NULL,
    ciphertext_hash TEXT NOT NULL,
    wrapped_key TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    amends TEXT NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX records_by_patient ON records (chain_id, patient, category, block_number, log_index);
CREATE INDEX records_by_patient_time ON records (chain_id, patient, block_time, block_number, log_index);
CREATE INDEX records_by_id ON records (chain_id, record_id);

-- Category grants (Granted, Revoked). The latest row per (chain_id, patient,
-- grantee) is the grant's state: action 'revoked', or 'granted' and live
-- until expiry (seconds; compare with the time asked about). actor: who
-- granted or revoked (the patient, a guardian, or the approving patient for
-- a request). Masks as described at the top; 0 on a revoke.
CREATE TABLE category_grants (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    patient TEXT NOT NULL,
    grantee TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    read_mask BIGINT NOT NULL,
    write_mask BIGINT NOT NULL,
    expiry BIGINT NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX category_grants_by_patient ON category_grants (chain_id, patient, grantee, block_number, log_index);
CREATE INDEX category_grants_by_grantee ON category_grants (chain_id, grantee, patient, block_number, log_index);

-- Record grants (RecordGranted, RecordRevoked); patient is the record's
-- patient. The latest row per (chain_id, record_id, grantee) is the state.
CREATE TABLE record_grants (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    record_id TEXT NOT NULL,
    patient TEXT,
    grantee TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    expiry BIGINT NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX record_grants_by_patient ON record_grants (chain_id, patient, block_number, log_index);
CREATE INDEX record_grants_by_grantee ON record_grants (chain_id, grantee, block_number, log_index);
CREATE INDEX record_grants_by_record ON record_grants (chain_id, record_id, grantee, block_number, log_index);

-- Access requests and their outcomes (AccessRequested, RequestApproved,
-- RequestDenied). action: requested | approved | denied; the latest row per
-- (chain_id, request_id) is the request's status. The request's terms
-- (masks, duration, purpose_hash) are on its `requested` row; expiry (the
-- grant's) on its `approved` row; the other columns are NULL.
CREATE TABLE requests (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    request_id TEXT NOT NULL,
    patient TEXT NOT NULL,
    staff TEXT NOT NULL,
    action TEXT NOT NULL,
    read_mask BIGINT,
    write_mask BIGINT,
    duration BIGINT,
    purpose_hash TEXT,
    expiry BIGINT,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX requests_by_id ON requests (chain_id, request_id, block_number, log_index);
CREATE INDEX requests_by_patient ON requests (chain_id, patient, block_number, log_index);
CREATE INDEX requests_by_staff ON requests (chain_id, staff, block_number, log_index);

-- Category key envelopes (CategoryKeyPublished): the KEK of (patient,
-- category, epoch) sealed to recipient.
CREATE TABLE category_keys (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    patient TEXT NOT NULL,
    recipient TEXT NOT NULL,
    category BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    publisher TEXT NOT NULL,
    sealed_key TEXT NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX category_keys_by_recipient ON category_keys (chain_id, recipient, patient, category, epoch);
CREATE INDEX category_keys_by_patient ON category_keys (chain_id, patient, block_number, log_index);

-- Record key envelopes (RecordKeyPublished): a record's DEK sealed to
-- recipient; patient is the record's patient.
CREATE TABLE record_keys (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    record_id TEXT NOT NULL,
    patient TEXT,
    recipient TEXT NOT NULL,
    publisher TEXT NOT NULL,
    sealed_key TEXT NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX record_keys_by_recipient ON record_keys (chain_id, recipient, record_id);
CREATE INDEX record_keys_by_record ON record_keys (chain_id, record_id, block_number, log_index);
CREATE INDEX record_keys_by_patient ON record_keys (chain_id, patient, block_number, log_index);

-- Category key rotations (CategoryKeyRotated): epoch is the new epoch;
-- sealed_previous_key is the previous epoch's KEK sealed under the new one.
CREATE TABLE key_rotations (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    patient TEXT NOT NULL,
    category BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    rotated_by TEXT NOT NULL,
    sealed_previous_key TEXT NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX key_rotations_by_patient ON key_rotations (chain_id, patient, category, epoch);

-- Break-glass cases (BreakGlassOpened, BreakGlassClosed). action: opened |
-- closed. A case is open while its latest row is `opened`. reason_hash and
-- expires_at are on the `opened` row; verdict (IMedVault.Verdict: 1
-- justified, 2 abuse) and closed_by on the `closed` row.
CREATE TABLE break_glass (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    case_id TEXT NOT NULL,
    patient TEXT NOT NULL,
    organisation TEXT NOT NULL,
    staff TEXT NOT NULL,
    action TEXT NOT NULL,
    reason_hash TEXT,
    expires_at BIGINT,
    verdict BIGINT,
    closed_by TEXT,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX break_glass_by_case ON break_glass (chain_id, case_id, block_number, log_index);
CREATE INDEX break_glass_by_patient ON break_glass (chain_id, patient, block_number, log_index);
CREATE INDEX break_glass_by_organisation ON break_glass (chain_id, organisation, block_number, log_index);

-- Alerts (AlertRaised): severity only, never a value.
CREATE TABLE alerts (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    patient TEXT NOT NULL,
    record_id TEXT NOT NULL,
    raised_by TEXT NOT NULL,
    severity BIGINT NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX alerts_by_patient ON alerts (chain_id, patient, block_number, log_index);

-- Anchors of the gateway's access log (AccessLogAnchored).
CREATE TABLE access_log_anchors (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    block_time BIGINT NOT NULL,
    sequence BIGINT NOT NULL,
    log_hash TEXT NOT NULL,
    relayer TEXT NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX access_log_anchors_by_sequence ON access_log_anchors (chain_id, sequence);
