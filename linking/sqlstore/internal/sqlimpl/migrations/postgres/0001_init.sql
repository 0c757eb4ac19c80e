-- Links, their audit trail and pending OAuth authorization requests.
-- Times are Unix microseconds UTC; the zero time.Time is -62135596800000000.
-- Token columns hold sealed (encrypted) bytes only.

CREATE TABLE nsalink_links (
    account_id              TEXT    NOT NULL PRIMARY KEY,
    state                   TEXT    NOT NULL,
    reason                  TEXT    NOT NULL,
    environment             TEXT    NOT NULL,
    crid                    TEXT    NOT NULL,
    mid                     TEXT    NOT NULL,
    manifest_mid            TEXT    NOT NULL,
    eps_account             TEXT    NOT NULL,
    token                   BYTEA,
    token_expiry_us         BIGINT  NOT NULL,
    refresh_expiry_us       BIGINT  NOT NULL,
    payment_token           BYTEA,
    payment_token_expiry_us BIGINT  NOT NULL,
    version                 BIGINT  NOT NULL,
    created_at_us           BIGINT  NOT NULL,
    updated_at_us           BIGINT  NOT NULL,
    next_check_at_us        BIGINT  NOT NULL,
    check_attempts          INTEGER NOT NULL,
    last_error              TEXT    NOT NULL
);

-- ClaimDue: links of one state, by due time.
CREATE INDEX nsalink_links_due ON nsalink_links (state, next_check_at_us);

CREATE TABLE nsalink_link_events (
    account_id TEXT   NOT NULL,
    seq        BIGINT NOT NULL,
    at_us      BIGINT NOT NULL,
    from_state TEXT   NOT NULL,
    to_state   TEXT   NOT NULL,
    reason     TEXT   NOT NULL,
    cause      TEXT   NOT NULL,
    actor      TEXT   NOT NULL,
    PRIMARY KEY (account_id, seq)
);

CREATE TABLE nsalink_auth_requests (
    state_hash    BYTEA  NOT NULL PRIMARY KEY,
    account_id    TEXT   NOT NULL REFERENCES nsalink_links (account_id) ON DELETE CASCADE,
    session_hash  BYTEA,
    verifier      BYTEA,
    environment   TEXT   NOT NULL,
    redirect_uri  TEXT   NOT NULL,
    created_at_us BIGINT NOT NULL,
    expires_at_us BIGINT NOT NULL,
    used_at_us    BIGINT NOT NULL
);

CREATE INDEX nsalink_auth_requests_account ON nsalink_auth_requests (account_id);
CREATE INDEX nsalink_auth_requests_expires ON nsalink_auth_requests (expires_at_us);
