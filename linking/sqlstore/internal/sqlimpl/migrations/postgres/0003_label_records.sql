-- Label purchases (linking.LabelStore): the intent of each purchase, its
-- idempotency key and the exact request body, recorded before USPS is called.
-- Times are Unix microseconds UTC, amounts integer cents.

CREATE TABLE nsalink_label_records (
    account_id         TEXT    NOT NULL,
    purchase_id        TEXT    NOT NULL,
    idempotency_key    TEXT    NOT NULL,
    request_hash       BYTEA   NOT NULL,
    body               BYTEA   NOT NULL,
    expected_postage   BIGINT  NOT NULL,
    expected_sku       TEXT    NOT NULL,
    expected_zone      TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    tracking_number    TEXT    NOT NULL,
    postage            BIGINT  NOT NULL,
    sku                TEXT    NOT NULL,
    zone               TEXT    NOT NULL,
    price_mismatch     TEXT    NOT NULL,
    cancel_deadline_us BIGINT  NOT NULL,
    dispute_id         TEXT    NOT NULL,
    attempts           INTEGER NOT NULL,
    last_error         TEXT    NOT NULL,
    created_at_us      BIGINT  NOT NULL,
    updated_at_us      BIGINT  NOT NULL,
    version            BIGINT  NOT NULL,
    PRIMARY KEY (account_id, purchase_id)
);

-- PendingLabelRecords: pending purchases by age.
CREATE INDEX nsalink_label_records_pending ON nsalink_label_records (status, updated_at_us);
