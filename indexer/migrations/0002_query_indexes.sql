-- Indexes for the query API, on top of 0001's tables (nothing else changes).
--
-- A patient's records page and the audit trail walk rows in chain order
-- (block_number, log_index) after a cursor; these let both databases answer
-- from the index, in order, without sorting the patient's whole history.

-- A patient's records, in chain order (records_by_patient leads with the
-- category, so it serves only pages filtered by category).
CREATE INDEX records_by_patient_position ON records (chain_id, patient, block_number, log_index);

-- The audit trail merges every access-log anchor into a patient's events.
CREATE INDEX events_by_name ON events (chain_id, name, block_number, log_index);

-- Break-glass cases by the staff member who opened them.
CREATE INDEX break_glass_by_staff ON break_glass (chain_id, staff, block_number, log_index);
