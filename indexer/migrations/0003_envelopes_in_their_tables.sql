-- Key envelopes live in their own tables only.
--
-- RecordKeyPublished and CategoryKeyPublished are most of a chain's logs (one
-- per recipient of every record and of every category key), and
-- `record_keys` and `category_keys` hold every field of them. Their rows in
-- `events` (a copy of those fields as JSON, with four indexes) doubled what
-- a backfill writes for each, so they are gone: from this migration on the
-- audit trail and the event stream read envelopes from their tables, as
-- events of the same shape, and `events` holds every other log.

DELETE FROM events WHERE name IN ('RecordKeyPublished', 'CategoryKeyPublished');

-- The event stream of a grantee walks their envelopes in chain order.
CREATE INDEX record_keys_by_recipient_position ON record_keys (chain_id, recipient, block_number, log_index);
CREATE INDEX category_keys_by_recipient_position ON category_keys (chain_id, recipient, block_number, log_index);
