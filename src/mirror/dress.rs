//! Adds `"mirror":{…}` to a feed item at answer time. Cached pages hold
//! each item's JSON as it came from Instagram, so images mirrored after a
//! page was cached show at once without rewriting it, and a cache hit still
//! parses no JSON: the item's id is read from its first bytes and the
//! prepared object is written, straight into the answer's buffer, before
//! its closing brace.

use std::sync::Arc;

#[cfg(test)]
use bytes::Bytes;
use url::Url;

use super::index::{Account, Template};

/// What is mirrored of one account at one moment: an answer rendered with
/// it stays right for as long as the account's images are this same
/// snapshot (the index swaps an account's snapshot whole when they change).
#[derive(Clone, Default)]
pub struct Version(Option<Arc<Account>>);

impl Version {
    pub(super) fn new(account: Option<Arc<Account>>) -> Version {
        Version(account)
    }

    /// What feed items get, in an answer whose links start at `base`.
    pub fn dressing(&self, base: &Url) -> Dressing {
        Dressing::new(self.0.clone(), base)
    }
}

impl PartialEq for Version {
    /// The same snapshot, not an equal one.
    fn eq(&self, other: &Version) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

/// An account's prepared objects and the agent's URL, for one answer.
pub struct Dressing {
    account: Option<Arc<Account>>,
    /// The agent's URL up to its last `/`, as `Url::join` reads it.
    base: String,
}

impl Dressing {
    pub(super) fn new(account: Option<Arc<Account>>, base: &Url) -> Dressing {
        let base = base.as_str();
        let base = base
            .rfind('/')
            .map_or(base, |slash| &base[..=slash])
            .to_string();
        Dressing { account, base }
    }

    /// Dresses nothing: items are written as they are.
    pub fn plain() -> Dressing {
        Dressing {
            account: None,
            base: String::new(),
        }
    }

    /// The prepared object of `item`, if it has one.
    fn template(&self, item: &[u8]) -> Option<&Template> {
        let account = self.account.as_ref()?;
        let template = account.dressed.get(item_id(item)?)?;
        item.ends_with(b"}").then_some(template)
    }

    /// How many bytes [`Dressing::write`] writes for `item`.
    pub fn len(&self, item: &[u8]) -> usize {
        item.len()
            + self
                .template(item)
                .map_or(0, |t| MIRROR.len() + t.len(self.base.len()))
    }

    /// Writes the item with its `mirror` object, or as it was, to `out`.
    pub fn write(&self, item: &[u8], out: &mut Vec<u8>) {
        let Some(template) = self.template(item) else {
            out.extend_from_slice(item);
            return;
        };
        out.extend_from_slice(&item[..item.len() - 1]);
        out.extend_from_slice(MIRROR);
        template.write(&self.base, out);
        out.push(b'}');
    }

    /// The item with its `mirror` object, or as it was.
    #[cfg(test)]
    fn apply(&self, item: &Bytes) -> Bytes {
        let mut out = Vec::with_capacity(self.len(item));
        self.write(item, &mut out);
        assert_eq!(out.len(), self.len(item), "len says what write writes");
        Bytes::from(out)
    }
}

/// Written between an item's last field and its `mirror` object.
const MIRROR: &[u8] = b",\"mirror\":";

/// The id of an item serialised from `upstream::Media`, whose first field
/// is `id`; `None` for anything else.
fn item_id(item: &[u8]) -> Option<&str> {
    let rest = item.strip_prefix(b"{\"id\":\"")?;
    let end = rest.iter().position(|b| *b == b'"')?;
    std::str::from_utf8(&rest[..end]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror::index::Index;
    use crate::store::{MirrorCopy, MirrorEntry, MirrorPlace};
    use crate::upstream::media::Media;
    use serde_json::{Value, json};

    fn index() -> Index {
        Index::build(vec![MirrorEntry {
            place: MirrorPlace {
                account: "shop".into(),
                post_id: "17".into(),
                media_id: "17".into(),
                child: None,
                posted_at: 0,
            },
            copy: MirrorCopy {
                width: 320,
                height: 320,
                size: 10,
                etag: "\"x\"".into(),
            },
        }])
    }

    fn item(id: &str) -> Bytes {
        let media: Media = serde_json::from_value(json!({
            "id": id, "media_type": "IMAGE", "caption": "a } brace",
            "media_url": "https://scontent.cdninstagram.com/1.jpg?oe=6A000000"
        }))
        .unwrap();
        Bytes::from(serde_json::to_vec(&media).unwrap())
    }

    #[test]
    fn a_mirrored_item_gets_its_object_and_keeps_instagrams_fields() {
        let base = Url::parse("https://agent.example.com/feed.json?limit=3").unwrap();
        let dressing = Dressing::new(index().account("shop").cloned(), &base);
        let dressed: Value = serde_json::from_slice(&dressing.apply(&item("17"))).unwrap();
        assert_eq!(
            dressed["media_url"],
            "https://scontent.cdninstagram.com/1.jpg?oe=6A000000"
        );
        assert_eq!(dressed["caption"], "a } brace");
        assert_eq!(
            dressed["mirror"]["src"],
            "https://agent.example.com/media/shop/17/320.jpg"
        );
        let plain = item("18");
        assert_eq!(dressing.apply(&plain), plain, "not mirrored: unchanged");
        let nobody = Dressing::new(None, &base);
        assert_eq!(nobody.apply(&item("17")), item("17"));
    }

    #[test]
    fn the_id_is_read_from_the_items_first_field() {
        assert_eq!(
            item_id(&item("17895695668004550")),
            Some("17895695668004550")
        );
        assert_eq!(item_id(br#"{"caption":"x","id":"1"}"#), None);
        assert_eq!(item_id(b"{\"id\":\"unterminated"), None);
    }
}
