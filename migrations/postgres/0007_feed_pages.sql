-- The last good copy of each feed page, beside the cache: a restart during
-- an outage (Heroku restarts every dyno at least daily, and memcached may be
-- absent) still has something to serve, and every instance shares it. The
-- page is kept in the cache's own byte form.
CREATE TABLE feed_pages (
    key         TEXT PRIMARY KEY NOT NULL,
    account     TEXT NOT NULL,
    page        BYTEA NOT NULL,
    fetched_at  BIGINT NOT NULL
);
CREATE INDEX feed_pages_by_account ON feed_pages (account, fetched_at);
