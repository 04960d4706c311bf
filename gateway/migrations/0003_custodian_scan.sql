-- How far the emergency custodian has scanned `BreakGlassOpened`, per chain,
-- contract and custodian, so that a restart resumes there instead of
-- rescanning from the deployment block.
CREATE TABLE IF NOT EXISTS custodian_scan (
    chain_id    INTEGER NOT NULL,
    vault       BLOB NOT NULL,
    custodian   BLOB NOT NULL,
    next_block  INTEGER NOT NULL,
    PRIMARY KEY (chain_id, vault, custodian)
);
