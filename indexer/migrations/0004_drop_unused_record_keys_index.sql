-- No query reads record envelopes by record alone: the API reads them by
-- recipient (and record), by patient and by recipient in chain order. The
-- index by record only cost every envelope's write.

DROP INDEX record_keys_by_record;
