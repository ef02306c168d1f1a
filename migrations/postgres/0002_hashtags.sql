-- Hashtag ids are global and never change, and looking one up counts against
-- Instagram's 30-hashtags-per-week budget: look each up once, keep it for ever.
CREATE TABLE hashtags (
    name          TEXT PRIMARY KEY,
    hashtag_id    TEXT NOT NULL,
    looked_up_at  BIGINT NOT NULL
);

-- Instagram allows 30 distinct hashtags per account in a rolling 7 days; a
-- tag counts from its first query for 7 days. Tracked here so the 31st is
-- refused before any upstream call.
CREATE TABLE hashtag_queries (
    account       TEXT NOT NULL,
    name          TEXT NOT NULL,
    window_start  BIGINT NOT NULL,
    PRIMARY KEY (account, name)
);
