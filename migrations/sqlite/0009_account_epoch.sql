-- Which placement of a token an account is on: a new random number each time
-- the owner puts a token in place (added, pasted, reconnected, another user's),
-- unchanged by refreshes. Feed caches and stored pages are keyed by it, so a
-- change of account reaches every process with the account itself, and no
-- copy made for the account's former user is served for the new one.
ALTER TABLE accounts ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
