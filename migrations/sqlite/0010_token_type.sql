-- What Meta's debug_token last said of a Facebook-Login token: its type
-- (USER, PAGE, or SYSTEM_USER for a system user's token, as Instagram API
-- with Unified Login uses) and whether it never expires (expires_at 0), so
-- a token that does not expire is told from one whose expiry is not known.
-- Both are cleared when a new token is put in place.
ALTER TABLE accounts ADD COLUMN token_type TEXT;
ALTER TABLE accounts ADD COLUMN never_expires BOOLEAN NOT NULL DEFAULT FALSE;
