//! A cached upstream page: its items, each already in the JSON form it is
//! served in, where upstream's next and previous pages start, when it was
//! fetched and when the signed media URLs inside it expire; and the byte
//! form kept in the cache, which a hit slices without parsing any JSON.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Cursor;
use crate::mirror::Dressing;
use crate::upstream::MediaPage;

/// One upstream page as the proxy keeps it.
#[derive(Debug, Clone)]
pub struct Page {
    /// Each item's JSON, as served.
    pub items: Vec<Bytes>,
    /// Upstream's paging, as positions of the pages around this one.
    pub around: Around,
    pub fetched_at: DateTime<Utc>,
    pub media_expires_at: Option<DateTime<Utc>>,
}

/// Where upstream's neighbouring pages start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Around {
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Cursor>,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Cursor>,
}

/// How upstream's neighbouring pages are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// By the `after`/`before` cursors (a user's media).
    Cursors,
    /// By following `paging.next` as given. Hashtag edges: "a before cursor
    /// will not be included … the after cursor value will always be the
    /// same for each page" (IG Hashtag Recent Media reference,
    /// https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-hashtag/recent-media),
    /// so a link rebuilt from the cursor cannot tell the pages apart.
    NextLink,
}

/// The query of upstream's next link, without the secrets it carries; none
/// for a link that is not a URL or is absurdly long.
fn next_query(link: &str) -> Option<String> {
    let url = url::Url::parse(link).ok()?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in url.query_pairs() {
        if !matches!(
            key.as_ref(),
            "access_token" | "appsecret_proof" | "appsecret_time"
        ) {
            query.append_pair(&key, &value);
        }
    }
    let query = query.finish();
    (query.len() <= 1024).then_some(query)
}

impl Page {
    /// From a checked upstream page: Graph sends `next` only when there is
    /// a next page, and `previous` only when there is a previous one.
    pub fn from_media(
        media: &MediaPage,
        fetched_at: DateTime<Utc>,
        style: Paging,
    ) -> Result<Page, String> {
        let items = media
            .data
            .iter()
            .map(|item| serde_json::to_vec(item).map(Bytes::from))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let around = match &media.paging {
            None => Around::default(),
            Some(paging) if style == Paging::NextLink => Around {
                next: paging
                    .next
                    .as_deref()
                    .and_then(next_query)
                    .map(Cursor::Next),
                previous: None,
            },
            Some(paging) => {
                let cursors = paging.cursors.clone().unwrap_or_default();
                Around {
                    next: paging.next.as_ref().and(cursors.after).map(Cursor::After),
                    previous: paging
                        .previous
                        .as_ref()
                        .and(cursors.before)
                        .map(Cursor::Before),
                }
            }
        };
        Ok(Page {
            items,
            around,
            fetched_at,
            media_expires_at: media.media_expiry(),
        })
    }

    /// Cached form: fetched-at and media expiry (ms, big-endian), the
    /// paging's JSON (length first), the item count, then each item
    /// (length first).
    pub(super) fn encode(&self) -> Bytes {
        let around = serde_json::to_vec(&self.around).expect("positions serialize");
        let size = 24 + around.len() + self.items.iter().map(|i| 4 + i.len()).sum::<usize>();
        let mut out = BytesMut::with_capacity(size);
        out.put_i64(self.fetched_at.timestamp_millis());
        out.put_i64(
            self.media_expires_at
                .map_or(i64::MIN, |t| t.timestamp_millis()),
        );
        out.put_u32(u32::try_from(around.len()).expect("a small paging object"));
        out.put_slice(&around);
        out.put_u32(u32::try_from(self.items.len()).expect("a page holds few items"));
        for item in &self.items {
            out.put_u32(u32::try_from(item.len()).expect("an item under 4 GB"));
            out.put_slice(item);
        }
        out.freeze()
    }

    /// The page back from its cached form; `None` for anything else (an
    /// older agent's entry, a cut-off value): a miss, never garbage served.
    pub(super) fn decode(raw: &Bytes) -> Option<Page> {
        let mut rest = raw.clone();
        let take = |rest: &mut Bytes, n: usize| (rest.remaining() >= n).then(|| rest.split_to(n));
        let header = take(&mut rest, 16)?;
        let ms = |b: &[u8]| i64::from_be_bytes(b.try_into().expect("8 bytes"));
        let fetched_at = Utc.timestamp_millis_opt(ms(&header[..8])).single()?;
        let expiry = ms(&header[8..16]);
        let media_expires_at = if expiry == i64::MIN {
            None
        } else {
            Some(Utc.timestamp_millis_opt(expiry).single()?)
        };
        let len = take(&mut rest, 4)?.get_u32() as usize;
        let around = serde_json::from_slice(&take(&mut rest, len)?).ok()?;
        let count = take(&mut rest, 4)?.get_u32() as usize;
        let mut items = Vec::with_capacity(count.min(1000));
        for _ in 0..count {
            let len = take(&mut rest, 4)?.get_u32() as usize;
            items.push(take(&mut rest, len)?);
        }
        if rest.has_remaining() {
            return None;
        }
        Some(Page {
            items,
            around,
            fetched_at,
            media_expires_at,
        })
    }

    pub fn age(&self, now: DateTime<Utc>) -> Duration {
        (now - self.fetched_at).max(Duration::zero())
    }

    pub(super) fn media_valid(&self, now: DateTime<Utc>) -> bool {
        self.media_expires_at.is_none_or(|t| now < t)
    }

    pub(super) fn is_fresh(&self, now: DateTime<Utc>, ttl: Duration) -> bool {
        self.age(now) < ttl && self.media_valid(now)
    }

    /// Whether the page may still be served once it is not fresh: within
    /// `stale_ttl`, while the signed media URLs inside it are valid or,
    /// past their expiry, while one of its items `outlives` them (the
    /// agent keeps its images).
    pub(super) fn is_servable_stale(
        &self,
        now: DateTime<Utc>,
        stale_ttl: Duration,
        outlives: impl Fn(&Bytes) -> bool,
    ) -> bool {
        self.age(now) <= stale_ttl && (self.media_valid(now) || self.items.iter().any(outlives))
    }
}

/// The links of a served page: the agent's own cursors and URLs.
#[derive(Debug, Default, Serialize)]
pub struct Links {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

/// `{"data":[…items…],"paging":{…}}` in Graph's shape, from items already
/// in JSON form: a hit copies bytes and formats no JSON but the links.
pub fn render<'a>(
    items: impl Iterator<Item = &'a Bytes> + Clone,
    links: &Links,
    dressing: &Dressing,
) -> Bytes {
    #[derive(Serialize)]
    struct Cursors<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        before: &'a Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        after: &'a Option<String>,
    }
    #[derive(Serialize)]
    struct Paging<'a> {
        cursors: Cursors<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        next: &'a Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        previous: &'a Option<String>,
    }
    let size: usize = items.clone().map(|i| dressing.len(i) + 1).sum();
    let mut out = Vec::with_capacity(size + 512);
    out.extend_from_slice(b"{\"data\":[");
    for (n, item) in items.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        dressing.write(item, &mut out);
    }
    out.push(b']');
    if links.next.is_some() || links.previous.is_some() {
        out.extend_from_slice(b",\"paging\":");
        let paging = Paging {
            cursors: Cursors {
                before: &links.before,
                after: &links.after,
            },
            next: &links.next,
            previous: &links.previous,
        };
        serde_json::to_writer(&mut out, &paging).expect("links serialize");
    }
    out.push(b'}');
    Bytes::from(out)
}

/// The answer to a feed or hashtag request.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: Bytes,
    /// The body's version, hex digits: made once per rendered answer and
    /// kept with it, so a repeat visitor's `If-None-Match` costs no hash.
    pub version: Version,
    /// When the (oldest) upstream page in it was fetched.
    pub fetched_at: DateTime<Utc>,
    /// Seconds a client may keep it.
    pub max_age: i64,
    /// Served from an older copy because upstream failed or is busy.
    pub stale: bool,
}

impl Answer {
    /// An answer of pages the oldest of which was fetched at `fetched_at`:
    /// a fresh one may be kept for what is left of `ttl`.
    pub(super) fn new(
        body: Bytes,
        fetched_at: DateTime<Utc>,
        stale: bool,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Answer {
        let version = Version::of(&body);
        Answer::kept(body, version, fetched_at, stale, now, ttl)
    }

    /// An answer whose version is already known (one kept whole).
    pub(super) fn kept(
        body: Bytes,
        version: Version,
        fetched_at: DateTime<Utc>,
        stale: bool,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Answer {
        let max_age = if stale {
            0
        } else {
            (ttl - (now - fetched_at).max(Duration::zero()))
                .num_seconds()
                .max(0)
        };
        Answer {
            body,
            version,
            fetched_at,
            max_age,
            stale,
        }
    }

    /// The `ETag` of the answer in the form `suffix` names (`""` for the
    /// JSON itself, kept whole: no work per request; `"html"` or `"rss"`
    /// for what is rendered from it).
    pub fn etag(&self, suffix: &str) -> Bytes {
        let tag = &self.version.0;
        if suffix.is_empty() {
            return tag.clone();
        }
        let hex = String::from_utf8_lossy(&tag[1..tag.len() - 1]);
        Bytes::from(format!("\"{hex}-{suffix}\""))
    }

    pub fn age(&self, now: DateTime<Utc>) -> Duration {
        (now - self.fetched_at).max(Duration::zero())
    }
}

/// A body's version, as its `ETag`: the first 12 bytes of its SHA-256 in
/// hex, quoted, so every process that renders the same answer names it
/// alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version(Bytes);

impl Version {
    fn of(body: &[u8]) -> Version {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(body);
        Version(Bytes::from(format!("\"{}\"", hex::encode(&digest[..12]))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn page() -> Page {
        let media = MediaPage::from_upstream(json!({
            "data": [
                {"id": "1", "media_type": "IMAGE", "caption": "a \"quoted\" caption",
                 "media_url": "https://scontent.cdninstagram.com/1.jpg?oe=6A000000"},
                {"id": 2, "media_type": "VIDEO"}
            ],
            "paging": {
                "cursors": {"before": "QVFIUk1", "after": "QVFIUk2"},
                "next": "https://graph.instagram.com/v25.0/1/media?access_token=IGAAx&after=QVFIUk2"
            }
        }))
        .unwrap();
        Page::from_media(
            &media,
            Utc.timestamp_millis_opt(1_780_000_000_123).unwrap(),
            Paging::Cursors,
        )
        .unwrap()
    }

    #[test]
    fn cached_pages_round_trip() {
        let page = page();
        assert_eq!(page.items.len(), 2);
        assert_eq!(
            page.around,
            Around {
                next: Some(Cursor::After("QVFIUk2".into())),
                previous: None,
            },
            "no previous link upstream: no previous page"
        );
        let back = Page::decode(&page.encode()).unwrap();
        assert_eq!(back.items, page.items);
        assert_eq!(back.around, page.around);
        assert_eq!(back.fetched_at, page.fetched_at);
        assert_eq!(
            back.media_expires_at,
            Utc.timestamp_opt(0x6A00_0000, 0).single()
        );
        let none = Page {
            media_expires_at: None,
            ..page.clone()
        };
        assert_eq!(Page::decode(&none.encode()).unwrap().media_expires_at, None);
        let whole = page.encode();
        for cut in [0, 5, 16, 20, whole.len() - 1] {
            assert!(Page::decode(&whole.slice(..cut)).is_none(), "cut at {cut}");
        }
        let mut longer = BytesMut::from(&whole[..]);
        longer.put_u8(0);
        assert!(Page::decode(&longer.freeze()).is_none());
    }

    #[test]
    fn a_next_link_is_followed_as_given_without_its_secrets() {
        let media = MediaPage::from_upstream(json!({
            "data": [{"id": "1", "media_type": "IMAGE"}],
            "paging": {
                "cursors": {"after": "QVFIUkNPTlNU"},
                "next": "https://graph.facebook.com/v25.0/17843/recent_media?access_token=EAAsecret&user_id=1784&fields=id%2Ccaption&limit=50&after=QVFIUkNPTlNU&__after_id=50&appsecret_proof=abc"
            }
        }))
        .unwrap();
        let page =
            Page::from_media(&media, Utc.timestamp_opt(0, 0).unwrap(), Paging::NextLink).unwrap();
        assert_eq!(
            page.around.next,
            Some(Cursor::Next(
                "user_id=1784&fields=id%2Ccaption&limit=50&after=QVFIUkNPTlNU&__after_id=50".into()
            ))
        );
        assert_eq!(page.around.previous, None);
        let cursors =
            Page::from_media(&media, Utc.timestamp_opt(0, 0).unwrap(), Paging::Cursors).unwrap();
        assert_eq!(
            cursors.around.next,
            Some(Cursor::After("QVFIUkNPTlNU".into()))
        );
    }

    #[test]
    fn rendering_gives_graphs_shape() {
        let page = page();
        let links = Links {
            after: Some("C2".into()),
            next: Some("https://agent.example.com/feed.json?after=C2".into()),
            ..Links::default()
        };
        let body: Value =
            serde_json::from_slice(&render(page.items.iter(), &links, &Dressing::plain())).unwrap();
        assert_eq!(body["data"][0]["caption"], "a \"quoted\" caption");
        assert_eq!(body["data"][1]["id"], "2");
        assert_eq!(body["paging"]["cursors"], json!({"after": "C2"}));
        assert_eq!(
            body["paging"]["next"],
            "https://agent.example.com/feed.json?after=C2"
        );
        assert!(body["paging"].get("previous").is_none());
        let last: Value = serde_json::from_slice(&render(
            page.items[..1].iter(),
            &Links::default(),
            &Dressing::plain(),
        ))
        .unwrap();
        assert_eq!(
            last,
            json!({"data": [serde_json::from_slice::<Value>(&page.items[0]).unwrap()]})
        );
        let empty: Value =
            serde_json::from_slice(&render([].iter(), &Links::default(), &Dressing::plain()))
                .unwrap();
        assert_eq!(empty, json!({"data": []}));
    }

    #[test]
    fn freshness_and_staleness_respect_media_expiry() {
        let t0 = Utc.timestamp_opt(1_780_000_000, 0).unwrap();
        let page = Page {
            items: Vec::new(),
            around: Around::default(),
            fetched_at: t0,
            media_expires_at: Some(t0 + Duration::hours(2)),
        };
        let ttl = Duration::minutes(5);
        let stale_ttl = Duration::days(1);
        assert!(page.is_fresh(t0 + Duration::minutes(4), ttl));
        assert!(!page.is_fresh(t0 + Duration::minutes(5), ttl));
        let none = |_: &Bytes| false;
        assert!(page.is_servable_stale(t0 + Duration::hours(1), stale_ttl, none));
        assert!(
            !page.is_servable_stale(t0 + Duration::hours(2), stale_ttl, none),
            "its images would 403"
        );
        let kept = Page {
            items: vec![Bytes::from_static(br#"{"id":"1"}"#)],
            ..page.clone()
        };
        let mirrored = |item: &Bytes| item.as_ref() == br#"{"id":"1"}"#;
        assert!(
            kept.is_servable_stale(t0 + Duration::hours(2), stale_ttl, mirrored),
            "its item's images are the agent's own"
        );
        assert!(!kept.is_servable_stale(t0 + Duration::hours(25), stale_ttl, mirrored));
        let unsigned = Page {
            media_expires_at: None,
            ..page
        };
        assert!(unsigned.is_servable_stale(t0 + Duration::hours(24), stale_ttl, none));
        assert!(!unsigned.is_servable_stale(t0 + Duration::hours(25), stale_ttl, none));
    }
}
