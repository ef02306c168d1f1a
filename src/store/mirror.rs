//! The `mirror_images` table: the agent's own copies of the newest posts'
//! images, every width of an image written in one transaction so that no
//! half-stored image is ever served. The bytes are read one copy at a time;
//! everything else is read without them.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{Store, StoreError, on_pool};

/// Where an image belongs: which account, post and place in the post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorPlace {
    pub account: String,
    pub post_id: String,
    /// The post itself, or the album child.
    pub media_id: String,
    /// `None` for the post's own image, else the child's place in the album.
    pub child: Option<u32>,
    /// When the post was published, Unix ms.
    pub posted_at: i64,
}

/// One stored width of an image, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorCopy {
    pub width: u32,
    pub height: u32,
    pub size: u64,
    pub etag: String,
}

/// An image as the index knows it: its place and its copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorEntry {
    pub place: MirrorPlace,
    pub copy: MirrorCopy,
}

/// A post's total, for eviction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorPost {
    pub account: String,
    pub post_id: String,
    pub posted_at: i64,
    pub size: u64,
}

type Row = (String, String, String, i32, i64, i32, i32, i64, String);

fn entry(
    (account, post_id, media_id, child, posted_at, width, height, size, etag): Row,
) -> MirrorEntry {
    MirrorEntry {
        place: MirrorPlace {
            account,
            post_id,
            media_id,
            child: u32::try_from(child).ok(),
            posted_at,
        },
        copy: MirrorCopy {
            width: u32::try_from(width).unwrap_or_default(),
            height: u32::try_from(height).unwrap_or_default(),
            size: u64::try_from(size).unwrap_or_default(),
            etag,
        },
    }
}

impl Store {
    /// Every stored copy, without the bytes: the in-memory index.
    pub async fn mirror_index(&self) -> Result<Vec<MirrorEntry>, StoreError> {
        const SQL: &str = "SELECT account, post_id, media_id, child, posted_at, width, height, size, etag \
             FROM mirror_images";
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(SQL).fetch_all(pool).await?);
        Ok(rows.into_iter().map(entry).collect())
    }

    /// One account's stored copies, without the bytes.
    pub async fn mirror_index_of(&self, account: &str) -> Result<Vec<MirrorEntry>, StoreError> {
        const SQL: &str = "SELECT account, post_id, media_id, child, posted_at, width, height, size, etag \
             FROM mirror_images WHERE account = $1";
        let rows: Vec<Row> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(account).fetch_all(pool).await?);
        Ok(rows.into_iter().map(entry).collect())
    }

    /// Stores every width of one image at once (replacing an earlier copy),
    /// if the account is still on `epoch`, its token's placement the image
    /// was found under: `false`, storing nothing, if the account is gone or
    /// on another token meanwhile.
    pub async fn put_mirror_image(
        &self,
        place: &MirrorPlace,
        epoch: i64,
        copies: &[(MirrorCopy, Bytes)],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "INSERT INTO mirror_images (account, post_id, media_id, child, posted_at, \
             width, height, size, etag, bytes, stored_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
             WHERE EXISTS (SELECT 1 FROM accounts WHERE name = $1 AND epoch = $12) \
             ON CONFLICT (account, media_id, width) DO UPDATE SET post_id = excluded.post_id, \
             child = excluded.child, posted_at = excluded.posted_at, height = excluded.height, \
             size = excluded.size, etag = excluded.etag, bytes = excluded.bytes, stored_at = excluded.stored_at";
        let child = place
            .child
            .map_or(-1, |c| i32::try_from(c).unwrap_or(i32::MAX));
        let stored = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut stored = 0;
            for (copy, bytes) in copies {
                stored += sqlx::query(SQL)
                    .bind(&place.account)
                    .bind(&place.post_id)
                    .bind(&place.media_id)
                    .bind(child)
                    .bind(place.posted_at)
                    .bind(i32::try_from(copy.width).unwrap_or(i32::MAX))
                    .bind(i32::try_from(copy.height).unwrap_or(i32::MAX))
                    .bind(i64::try_from(copy.size).unwrap_or(i64::MAX))
                    .bind(&copy.etag)
                    .bind(bytes.as_ref())
                    .bind(now.timestamp_millis())
                    .bind(epoch)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            stored
        });
        Ok(stored > 0)
    }

    /// The bytes of one stored copy.
    pub async fn mirror_bytes(
        &self,
        account: &str,
        media_id: &str,
        width: u32,
    ) -> Result<Option<Bytes>, StoreError> {
        const SQL: &str =
            "SELECT bytes FROM mirror_images WHERE account = $1 AND media_id = $2 AND width = $3";
        let width = i32::try_from(width).unwrap_or(i32::MAX);
        let bytes: Option<Vec<u8>> = on_pool!(self, pool => sqlx::query_scalar(SQL)
            .bind(account)
            .bind(media_id)
            .bind(width)
            .fetch_optional(pool)
            .await?);
        Ok(bytes.map(Bytes::from))
    }

    /// Removes the images of these posts of `account`.
    pub async fn delete_mirror_posts(
        &self,
        account: &str,
        post_ids: &[String],
    ) -> Result<(), StoreError> {
        const SQL: &str = "DELETE FROM mirror_images WHERE account = $1 AND post_id = $2";
        if post_ids.is_empty() {
            return Ok(());
        }
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for post in post_ids {
                sqlx::query(SQL).bind(account).bind(post).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Removes every image of `account`.
    pub async fn delete_mirror_account(&self, account: &str) -> Result<(), StoreError> {
        const SQL: &str = "DELETE FROM mirror_images WHERE account = $1";
        on_pool!(self, pool => { sqlx::query(SQL).bind(account).execute(pool).await?; });
        Ok(())
    }

    /// Every stored post with its images' total size, oldest first.
    pub async fn mirror_posts_oldest_first(&self) -> Result<Vec<MirrorPost>, StoreError> {
        const SQL: &str = "SELECT account, post_id, MIN(posted_at) AS posted, CAST(SUM(size) AS BIGINT) AS total \
             FROM mirror_images GROUP BY account, post_id ORDER BY posted, account, post_id";
        let rows: Vec<(String, String, i64, i64)> =
            on_pool!(self, pool => sqlx::query_as(SQL).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(account, post_id, posted_at, size)| MirrorPost {
                account,
                post_id,
                posted_at,
                size: u64::try_from(size).unwrap_or_default(),
            })
            .collect())
    }
}
