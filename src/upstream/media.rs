//! Instagram media pages as the agent serves them: parsed from upstream
//! into known fields only (so nothing else, a token least of all, can pass
//! through). Upstream's paging links carry the token and are never served:
//! the proxy links to its own pages.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::is_valid_cursor;

/// Fields asked of upstream for a user's own media. `media_product_type`
/// tells reels (`REELS`) from feed posts (`FEED`); `is_shared_to_feed` is
/// `false` for a trial reel, which Instagram's grid does not show
/// followers (instagram-api.md §14). `alt_text` is the author's own
/// description of an image (IG Media reference, 2026-06-22); an Instagram
/// that refuses the field is asked again without it ([`WITHOUT_ALT_TEXT`]).
pub const FEED_FIELDS: &str = "id,caption,alt_text,media_type,media_product_type,is_shared_to_feed,\
     media_url,permalink,thumbnail_url,timestamp,username,\
     children{id,alt_text,media_type,media_url,permalink,thumbnail_url,timestamp}";
/// [`FEED_FIELDS`] for a host that answered `nonexisting field (alt_text)`.
pub const WITHOUT_ALT_TEXT: &str = "id,caption,media_type,media_product_type,is_shared_to_feed,\
     media_url,permalink,thumbnail_url,timestamp,username,\
     children{id,media_type,media_url,permalink,thumbnail_url,timestamp}";
/// Hashtag edges refuse `username`.
pub const HASHTAG_FIELDS: &str = "id,caption,media_type,media_url,permalink,timestamp,like_count,comments_count,\
     children{id,media_type,media_url,permalink,timestamp}";

fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    Ok(match Id::deserialize(d)? {
        Id::Text(s) => s,
        Id::Number(n) => n.to_string(),
    })
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Media {
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// The author's description of an image, where they wrote one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_text: Option<String>,
    pub media_type: String,
    /// `FEED`, `REELS`, `STORY` or `AD`; absent on hashtag edges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_product_type: Option<String>,
    /// `false` for a trial reel; absent on older posts (then shared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_shared_to_feed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permalink: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub like_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<Children>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Children {
    pub data: Vec<Media>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
pub struct Cursors {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
pub struct Paging {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursors: Option<Cursors>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct MediaPage {
    pub data: Vec<Media>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}

impl Media {
    /// When it was published, Unix ms (0 when upstream did not say). Graph's
    /// timestamps have no colon in the offset (`+0000`).
    pub fn posted_at_ms(&self) -> i64 {
        self.timestamp
            .as_deref()
            .and_then(|t| DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%z").ok())
            .map_or(0, |t| t.timestamp_millis())
    }

    /// A trial reel: shown only to non-followers, not on the profile grid.
    pub fn is_trial_reel(&self) -> bool {
        self.is_shared_to_feed == Some(false)
    }
}

impl MediaPage {
    /// Leaves out the trial reels: what Instagram's grid shows followers.
    pub fn without_trial_reels(mut self) -> MediaPage {
        self.data.retain(|media| !media.is_trial_reel());
        self
    }

    /// Parses an upstream page. Anything but the known shape is an error.
    pub fn from_upstream(body: serde_json::Value) -> Result<MediaPage, String> {
        let page: MediaPage =
            serde_json::from_value(body).map_err(|e| format!("unexpected media page: {e}"))?;
        let cursor_ok = |c: &Option<String>| c.as_deref().is_none_or(is_valid_cursor);
        if let Some(cursors) = page.paging.as_ref().and_then(|p| p.cursors.as_ref())
            && !(cursor_ok(&cursors.before) && cursor_ok(&cursors.after))
        {
            return Err("unexpected paging cursor".into());
        }
        Ok(page)
    }

    /// The earliest signed expiry among the page's media URLs: Instagram
    /// CDN URLs carry `oe=` (hex Unix seconds), after which they answer 403.
    pub fn media_expiry(&self) -> Option<DateTime<Utc>> {
        fn urls(m: &Media) -> impl Iterator<Item = &String> {
            m.media_url.iter().chain(m.thumbnail_url.iter())
        }
        self.data
            .iter()
            .flat_map(|m| {
                urls(m).chain(m.children.iter().flat_map(|c| c.data.iter().flat_map(urls)))
            })
            .filter_map(|u| signed_expiry(u))
            .min()
    }
}

/// The `oe=` expiry of a CDN URL, if it has one.
pub fn signed_expiry(url: &str) -> Option<DateTime<Utc>> {
    let query = url.split_once('?')?.1;
    let value = query.split('&').find_map(|pair| pair.strip_prefix("oe="))?;
    let seconds = i64::from_str_radix(value, 16).ok()?;
    Utc.timestamp_opt(seconds, 0).single()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page() -> serde_json::Value {
        json!({
            "data": [
                {"id": "1", "media_type": "IMAGE", "caption": "hi", "username": "u",
                 "media_url": "https://scontent.cdninstagram.com/v/1.jpg?_nc_ht=x&oe=6A000000&_nc_sid=1",
                 "permalink": "https://www.instagram.com/p/1/", "timestamp": "2026-05-01T10:00:00+0000"},
                {"id": 2, "media_type": "CAROUSEL_ALBUM",
                 "children": {"data": [
                    {"id": "21", "media_type": "VIDEO",
                     "media_url": "https://video.cdninstagram.com/2.mp4?oe=69FFFFFF",
                     "thumbnail_url": "https://scontent.cdninstagram.com/2.jpg?oe=6A100000"}]}}
            ],
            "paging": {
                "cursors": {"before": "QVFIUk1", "after": "QVFIUk2"},
                "next": "https://graph.instagram.com/v25.0/1784/media?access_token=IGAAsecret&after=QVFIUk2",
                "previous": "https://graph.instagram.com/v25.0/1784/media?access_token=IGAAsecret&before=QVFIUk1"
            },
            "access_token": "IGAAsecret"
        })
    }

    #[test]
    fn only_known_fields_survive() {
        let p = MediaPage::from_upstream(page()).unwrap();
        let out = serde_json::to_string(&p.data).unwrap();
        assert!(
            !out.contains("access_token") && !out.contains("IGAAsecret"),
            "{out}"
        );
        assert_eq!(p.data[1].id, "2", "numeric ids become strings");
        assert!(!out.contains("null"), "absent fields are omitted: {out}");
        let cursors = p.paging.unwrap().cursors.unwrap();
        assert_eq!(cursors.after.as_deref(), Some("QVFIUk2"));
    }

    #[test]
    fn media_without_media_url_or_permalink_is_kept_and_dated_by_what_is_there() {
        // Meta leaves out media_url for video with copyrighted audio and
        // permalink for flagged media (IG Media reference).
        let page = MediaPage::from_upstream(json!({
            "data": [
                {"id": "1", "media_type": "VIDEO", "thumbnail_url": "https://x.cdninstagram.com/t.jpg?oe=6A000000"},
                {"id": "2", "media_type": "IMAGE", "media_url": "https://x.cdninstagram.com/i.jpg?oe=6B000000"},
                {"id": "3", "media_type": "CAROUSEL_ALBUM", "permalink": "https://www.instagram.com/p/x/",
                 "children": {"data": [{"id": "4", "media_type": "VIDEO"}]}}
            ]
        }))
        .unwrap();
        assert_eq!(page.data.len(), 3);
        assert!(page.data[0].media_url.is_none() && page.data[1].permalink.is_none());
        assert_eq!(page.media_expiry(), signed_expiry("?oe=6A000000"));
        let only_children = MediaPage::from_upstream(json!({
            "data": [{"id": "3", "media_type": "CAROUSEL_ALBUM", "children": {"data": [{"id": "4", "media_type": "VIDEO"}]}}]
        }))
        .unwrap();
        assert_eq!(only_children.media_expiry(), None);
    }

    #[test]
    fn the_earliest_signed_expiry_counts_children_and_thumbnails() {
        let p = MediaPage::from_upstream(page()).unwrap();
        assert_eq!(p.media_expiry(), Utc.timestamp_opt(0x69FF_FFFF, 0).single());
        assert_eq!(signed_expiry("https://x/y.jpg"), None);
        assert_eq!(signed_expiry("https://x/y.jpg?oe=zz"), None);
        assert_eq!(
            signed_expiry("https://x/y.jpg?a=1&oe=10"),
            Utc.timestamp_opt(16, 0).single()
        );
    }

    #[test]
    fn wrong_shapes_are_refused() {
        for bad in [
            json!({"data": "nope"}),
            json!({"items": []}),
            json!({"data": [{"media_type": "IMAGE"}]}),
            json!({"data": [{"id": {"x": 1}, "media_type": "IMAGE"}]}),
            json!({"data": [], "paging": {"cursors": {"after": "a b"}}}),
            json!([1, 2]),
        ] {
            assert!(MediaPage::from_upstream(bad.clone()).is_err(), "{bad}");
        }
    }
}
