-- Why the last expiry warning could not be delivered, shown on the status page
-- until a delivery succeeds.
ALTER TABLE accounts ADD COLUMN notify_error TEXT;

-- The app-scoped user id Meta names in deauthorize and data deletion callbacks.
ALTER TABLE accounts ADD COLUMN scoped_user_id TEXT;

-- OAuth `state` nonces of connect flows in progress: single use, short-lived.
CREATE TABLE oauth_states (
    state       TEXT PRIMARY KEY NOT NULL,
    provider    TEXT NOT NULL,
    account     TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- Data deletion requests from Meta, so that their status URL can answer.
CREATE TABLE deletions (
    code              TEXT PRIMARY KEY NOT NULL,
    user_id           TEXT NOT NULL,
    requested_at      BIGINT NOT NULL,
    accounts_deleted  BIGINT NOT NULL
);
