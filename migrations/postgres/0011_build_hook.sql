-- BUILD_HOOK_URL's outbox: each change the agent noticed (new or removed
-- posts, a changed token) is one row, with an id made from the change
-- itself, so processes that notice the same change write one row. A process
-- claims a row before it POSTs (claimed_until), so two never send it at
-- once; a failed POST is tried again at next_attempt_at; a delivered row is
-- kept to show the last delivery, and rows older than a week are dropped.
CREATE TABLE build_hook_events (
    id              TEXT PRIMARY KEY,
    account         TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_by      TEXT,
    claimed_until   BIGINT,
    delivered_at    BIGINT,
    last_error      TEXT
);
CREATE INDEX build_hook_events_due ON build_hook_events (delivered_at, next_attempt_at);
