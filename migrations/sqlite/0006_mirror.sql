-- The agent's own copies of the images of each account's newest posts, so
-- that a feed still shows once Instagram's signed CDN links have expired.
-- One row per image and width. An image's widths are written in one
-- transaction; removing the account removes its images with it.
CREATE TABLE mirror_images (
    account    TEXT NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
    -- The post the image belongs to (what the feed lists).
    post_id    TEXT NOT NULL,
    -- Whose image it is: the post itself, or one of its album's children.
    media_id   TEXT NOT NULL,
    -- -1 for the post's own image (an IMAGE, or a VIDEO's thumbnail),
    -- else the child's place in the album.
    child      INTEGER NOT NULL,
    -- When the post was published (Unix ms): the oldest posts go first.
    posted_at  BIGINT NOT NULL,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    size       BIGINT NOT NULL,
    etag       TEXT NOT NULL,
    bytes      BLOB NOT NULL,
    stored_at  BIGINT NOT NULL,
    PRIMARY KEY (account, media_id, width)
);
CREATE INDEX mirror_images_post ON mirror_images (account, post_id);
