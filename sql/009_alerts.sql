-- depends: 008_channel_answers
-- Alerts (alerts.md v1.2). `alerts`: every alert found from what the store records, once (its
-- id names the event and what it is about). `alert_deliveries`: one row per (alert,
-- destination), made when the alert is found for every destination that wants it: `due` until
-- a pass claims it (`sending`), then `delivered` or `failed` (tried again on the next pass). The
-- due rows are found by an index, whatever number of delivered ones the table holds.

CREATE TABLE alerts (
    alert_id VARCHAR(500) NOT NULL PRIMARY KEY,
    event VARCHAR(32) NOT NULL,
    subject VARCHAR(500) NOT NULL,   -- what it is about: a file version, a partner, account/channel
    account VARCHAR(200),
    partner VARCHAR(200),
    body TEXT NOT NULL,              -- the alert as JSON (never a secret)
    found_at TIMESTAMP NOT NULL
);

CREATE INDEX alerts_by_subject ON alerts (event, subject);
CREATE INDEX alerts_by_found_at ON alerts (found_at);

CREATE TABLE alert_deliveries (
    alert_id VARCHAR(500) NOT NULL REFERENCES alerts (alert_id),
    destination VARCHAR(500) NOT NULL,
    status VARCHAR(16) NOT NULL CHECK (status IN ('due', 'sending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error VARCHAR(2000),
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (alert_id, destination)
);

CREATE INDEX alert_deliveries_open ON alert_deliveries (status, destination);
CREATE INDEX drop_files_by_status ON drop_files (status, partner);
