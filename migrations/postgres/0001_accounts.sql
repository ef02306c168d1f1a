-- Accounts whose tokens the agent keeps alive. Times are Unix milliseconds (UTC),
-- the same in SQLite and PostgreSQL so that one SQL text serves both.
CREATE TABLE accounts (
    name              TEXT PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('instagram', 'facebook')),
    user_id           TEXT,
    username          TEXT,
    token             TEXT NOT NULL,
    -- When the current token was obtained; NULL when it was pasted and its age is unknown.
    issued_at         BIGINT,
    -- When the agent received the current token, however it came.
    placed_at         BIGINT NOT NULL,
    expires_at        BIGINT,
    refreshed_at      BIGINT,
    next_refresh_at   BIGINT,
    last_attempt_at   BIGINT,
    last_result       TEXT,
    last_error        TEXT,
    last_error_kind   TEXT,
    failures          INTEGER NOT NULL DEFAULT 0,
    needs_reconnect   BOOLEAN NOT NULL DEFAULT FALSE,
    warned_expiring_at BIGINT,
    warned_expired_at BIGINT,
    -- A refresh in progress holds the lease; another process skips the account until it ends.
    lease_owner       TEXT,
    lease_until       BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE refresh_history (
    id             BIGSERIAL PRIMARY KEY,
    account        TEXT NOT NULL,
    at             BIGINT NOT NULL,
    outcome        TEXT NOT NULL,
    error_kind     TEXT,
    message        TEXT,
    old_expires_at BIGINT,
    new_expires_at BIGINT
);
CREATE INDEX refresh_history_account_at ON refresh_history (account, at);

-- Small facts the agent keeps about itself, such as which STARTING_TOKEN it last seeded.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
