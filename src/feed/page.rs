//! A cached page of media: its JSON body, when it was fetched and when the
//! signed media URLs inside it expire, in the byte form kept in the cache.

use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, Duration, TimeZone, Utc};

/// One served page: the JSON body and how old it is.
#[derive(Debug, Clone)]
pub struct Page {
    pub body: Bytes,
    pub fetched_at: DateTime<Utc>,
    pub media_expires_at: Option<DateTime<Utc>>,
}

impl Page {
    /// Cached form: fetched-at and media expiry (ms, big-endian), then the body.
    pub(super) fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(16 + self.body.len());
        out.put_i64(self.fetched_at.timestamp_millis());
        out.put_i64(
            self.media_expires_at
                .map_or(i64::MIN, |t| t.timestamp_millis()),
        );
        out.put_slice(&self.body);
        out.freeze()
    }

    pub(super) fn decode(raw: &Bytes) -> Option<Page> {
        if raw.len() < 16 {
            return None;
        }
        let ms = |b: &[u8]| i64::from_be_bytes(b.try_into().expect("8 bytes"));
        let fetched_at = Utc.timestamp_millis_opt(ms(&raw[..8])).single()?;
        let expiry = ms(&raw[8..16]);
        let media_expires_at = if expiry == i64::MIN {
            None
        } else {
            Some(Utc.timestamp_millis_opt(expiry).single()?)
        };
        Some(Page {
            body: raw.slice(16..),
            fetched_at,
            media_expires_at,
        })
    }

    pub fn age(&self, now: DateTime<Utc>) -> Duration {
        (now - self.fetched_at).max(Duration::zero())
    }

    fn media_valid(&self, now: DateTime<Utc>) -> bool {
        self.media_expires_at.is_none_or(|t| now < t)
    }

    pub(super) fn is_fresh(&self, now: DateTime<Utc>, ttl: Duration) -> bool {
        self.age(now) < ttl && self.media_valid(now)
    }

    pub(super) fn is_servable_stale(&self, now: DateTime<Utc>, stale_ttl: Duration) -> bool {
        self.age(now) <= stale_ttl && self.media_valid(now)
    }
}

/// The answer to a feed or hashtag request.
#[derive(Debug, Clone)]
pub struct Answer {
    pub page: Page,
    /// Seconds a client may keep it.
    pub max_age: i64,
    /// Served from an older copy because upstream failed or is busy.
    pub stale: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_pages_round_trip() {
        let page = Page {
            body: Bytes::from_static(b"{\"data\":[]}"),
            fetched_at: Utc.timestamp_millis_opt(1_780_000_000_123).unwrap(),
            media_expires_at: Some(Utc.timestamp_opt(1_780_100_000, 0).unwrap()),
        };
        let back = Page::decode(&page.encode()).unwrap();
        assert_eq!(back.body, page.body);
        assert_eq!(back.fetched_at, page.fetched_at);
        assert_eq!(back.media_expires_at, page.media_expires_at);
        let none = Page {
            media_expires_at: None,
            ..page
        };
        assert_eq!(Page::decode(&none.encode()).unwrap().media_expires_at, None);
        assert!(Page::decode(&Bytes::from_static(b"short")).is_none());
    }

    #[test]
    fn freshness_and_staleness_respect_media_expiry() {
        let t0 = Utc.timestamp_opt(1_780_000_000, 0).unwrap();
        let page = Page {
            body: Bytes::new(),
            fetched_at: t0,
            media_expires_at: Some(t0 + Duration::hours(2)),
        };
        let ttl = Duration::minutes(5);
        let stale_ttl = Duration::days(1);
        assert!(page.is_fresh(t0 + Duration::minutes(4), ttl));
        assert!(!page.is_fresh(t0 + Duration::minutes(5), ttl));
        assert!(page.is_servable_stale(t0 + Duration::hours(1), stale_ttl));
        assert!(
            !page.is_servable_stale(t0 + Duration::hours(2), stale_ttl),
            "its images would 403"
        );
        let unsigned = Page {
            media_expires_at: None,
            ..page
        };
        assert!(unsigned.is_servable_stale(t0 + Duration::hours(24), stale_ttl));
        assert!(!unsigned.is_servable_stale(t0 + Duration::hours(25), stale_ttl));
    }
}
