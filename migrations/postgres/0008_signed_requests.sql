-- Meta's signed_requests already acted on, kept while they are fresh: one
-- that comes again (Meta retries a callback whose answer it lost) gets the
-- first answer, its confirmation code, and changes nothing more.
CREATE TABLE signed_requests (
    digest      TEXT PRIMARY KEY,
    code        TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
