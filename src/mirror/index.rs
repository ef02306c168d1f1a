//! What is mirrored, in memory: account → post → images → widths, built
//! from the database's rows (without their bytes). It answers, with no
//! database round trip, whether an image exists (so unknown ids cost
//! nothing) and what each feed item's `mirror` object is: that JSON is
//! prepared here once, when an account's images change, with the agent's
//! URL left as a gap that each answer fills in.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::store::{MirrorCopy, MirrorEntry, MirrorPlace};

/// The width `src` names: the 640 copy, or the largest below it.
const SRC_WIDTH: u32 = 640;

/// An image and its copies, narrowest first.
#[derive(Debug, Clone)]
pub struct Image {
    pub post_id: String,
    pub child: Option<u32>,
    pub posted_at: i64,
    pub copies: Vec<MirrorCopy>,
}

/// JSON with gaps where the agent's URL goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template(Vec<String>);

impl Template {
    /// Writes the JSON with `base` (ending in `/`) in each gap.
    pub fn write(&self, base: &str, out: &mut Vec<u8>) {
        for (n, part) in self.0.iter().enumerate() {
            if n > 0 {
                out.extend_from_slice(base.as_bytes());
            }
            out.extend_from_slice(part.as_bytes());
        }
    }

    /// How many bytes [`Template::write`] writes with a base `base_len`
    /// bytes long.
    pub fn len(&self, base_len: usize) -> usize {
        let gaps = self.0.len().saturating_sub(1);
        self.0.iter().map(String::len).sum::<usize>() + gaps * base_len
    }
}

/// One account's images, and each post's prepared `mirror` object.
#[derive(Debug, Default)]
pub struct Account {
    pub images: HashMap<String, Image>,
    /// Posts whose own image is mirrored.
    pub dressed: HashMap<String, Template>,
}

/// The whole index: one snapshot, swapped whole per account.
#[derive(Debug, Default, Clone)]
pub struct Index {
    pub accounts: HashMap<String, Arc<Account>>,
}

impl Index {
    pub fn build(entries: Vec<MirrorEntry>) -> Index {
        let mut by_account: HashMap<String, Vec<MirrorEntry>> = HashMap::new();
        for entry in entries {
            by_account
                .entry(entry.place.account.clone())
                .or_default()
                .push(entry);
        }
        Index {
            accounts: by_account
                .into_iter()
                .map(|(name, entries)| {
                    let account = Account::build(&name, entries);
                    (name, Arc::new(account))
                })
                .collect(),
        }
    }

    /// The same index with `account`'s images replaced.
    pub fn with_account(&self, name: &str, entries: Vec<MirrorEntry>) -> Index {
        let mut index = self.clone();
        if entries.is_empty() {
            index.accounts.remove(name);
        } else {
            index
                .accounts
                .insert(name.to_string(), Arc::new(Account::build(name, entries)));
        }
        index
    }

    /// The same index keeping only the posts of `name` that `keep` says.
    pub fn keeping(&self, name: &str, keep: impl Fn(&str) -> bool) -> Index {
        let entries = self.entries(name).filter(|e| keep(&e.place.post_id));
        self.with_account(name, entries.collect())
    }

    /// The same index with one more image of `place.account`.
    pub fn with_image(&self, place: &MirrorPlace, copies: Vec<MirrorCopy>) -> Index {
        let mut entries: Vec<MirrorEntry> = self
            .entries(&place.account)
            .filter(|e| e.place.media_id != place.media_id)
            .collect();
        entries.extend(copies.into_iter().map(|copy| MirrorEntry {
            place: place.clone(),
            copy,
        }));
        self.with_account(&place.account, entries)
    }

    /// The rows `name`'s images were built from.
    fn entries<'a>(&'a self, name: &'a str) -> impl Iterator<Item = MirrorEntry> + 'a {
        let images = self.accounts.get(name).map(|a| &a.images);
        images.into_iter().flatten().flat_map(move |(id, image)| {
            image.copies.iter().map(move |copy| MirrorEntry {
                place: MirrorPlace {
                    account: name.to_string(),
                    post_id: image.post_id.clone(),
                    media_id: id.clone(),
                    child: image.child,
                    posted_at: image.posted_at,
                },
                copy: copy.clone(),
            })
        })
    }

    pub fn account(&self, name: &str) -> Option<&Arc<Account>> {
        self.accounts.get(name)
    }

    /// Bytes of every copy.
    pub fn bytes(&self) -> u64 {
        self.accounts
            .values()
            .flat_map(|a| a.images.values())
            .flat_map(|i| &i.copies)
            .map(|c| c.size)
            .sum()
    }
}

impl Account {
    fn build(name: &str, entries: Vec<MirrorEntry>) -> Account {
        let mut images: HashMap<String, Image> = HashMap::new();
        for entry in entries {
            let image = images
                .entry(entry.place.media_id.clone())
                .or_insert_with(|| Image {
                    post_id: entry.place.post_id.clone(),
                    child: entry.place.child,
                    posted_at: entry.place.posted_at,
                    copies: Vec::new(),
                });
            image.copies.push(entry.copy);
        }
        for image in images.values_mut() {
            image.copies.sort_by_key(|c| c.width);
        }
        // Per post: its own image (an album's is its first child), and
        // its children in album order.
        let mut posts: HashMap<&str, (Option<&str>, BTreeMap<u32, &str>)> = HashMap::new();
        for (id, image) in &images {
            let post = posts.entry(image.post_id.as_str()).or_default();
            match image.child {
                None => post.0 = Some(id),
                Some(place) => {
                    if place == 0 {
                        post.0 = Some(id);
                    }
                    post.1.insert(place, id);
                }
            }
        }
        let dressed = posts
            .into_iter()
            .filter_map(|(post, (own, children))| {
                let own = own?;
                let children: Vec<&str> = children.into_values().collect();
                let template = dressing(name, own, &images[own], &children, &images);
                Some((post.to_string(), template))
            })
            .collect();
        Account { images, dressed }
    }

    /// Whether `id`, a post or an album child, has its image mirrored.
    pub fn covers(&self, id: &str) -> bool {
        self.dressed.contains_key(id) || self.images.contains_key(id)
    }
}

/// Builds JSON text around gaps for the agent's URL.
#[derive(Default)]
struct Parts {
    parts: Vec<String>,
    current: String,
}

impl Parts {
    fn text(&mut self, text: &str) {
        self.current.push_str(text);
    }

    fn base(&mut self) {
        self.parts.push(std::mem::take(&mut self.current));
    }

    /// `"<base>media/<account>/<id>/<width>.jpg"`, quotes left to the caller.
    fn url(&mut self, account: &str, id: &str, width: u32) {
        self.base();
        self.text(&format!("media/{account}/{id}/{width}.jpg"));
    }

    /// `"width":…,"height":…,"src":"…","srcset":"…"` of one image.
    fn image(&mut self, account: &str, id: &str, image: &Image) {
        let largest = image.copies.last().expect("an image has a copy");
        let src = image
            .copies
            .iter()
            .rev()
            .find(|c| c.width <= SRC_WIDTH)
            .unwrap_or(largest);
        self.text(&format!(
            "\"width\":{},\"height\":{},\"src\":\"",
            largest.width, largest.height
        ));
        self.url(account, id, src.width);
        self.text("\",\"srcset\":\"");
        for (n, copy) in image.copies.iter().enumerate() {
            if n > 0 {
                self.text(", ");
            }
            self.url(account, id, copy.width);
            self.text(&format!(" {}w", copy.width));
        }
        self.text("\"");
    }

    fn finish(mut self) -> Template {
        self.parts.push(self.current);
        Template(self.parts)
    }
}

/// The `mirror` object of a post, as a template. Account names and media
/// ids are plain (letters, digits, `-`, `_`), so nothing needs escaping.
fn dressing(
    account: &str,
    own: &str,
    image: &Image,
    children: &[&str],
    images: &HashMap<String, Image>,
) -> Template {
    let mut parts = Parts::default();
    parts.text("{");
    parts.image(account, own, image);
    if !children.is_empty() {
        parts.text(",\"children\":[");
        for (n, id) in children.iter().enumerate() {
            if n > 0 {
                parts.text(",");
            }
            parts.text(&format!("{{\"id\":\"{id}\","));
            parts.image(account, id, &images[*id]);
            parts.text("}");
        }
        parts.text("]");
    }
    parts.text("}");
    parts.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MirrorPlace;
    use serde_json::{Value, json};

    fn entry(post: &str, media: &str, child: Option<u32>, width: u32, height: u32) -> MirrorEntry {
        MirrorEntry {
            place: MirrorPlace {
                account: "shop".into(),
                post_id: post.into(),
                media_id: media.into(),
                child,
                posted_at: 0,
            },
            copy: MirrorCopy {
                width,
                height,
                size: 100,
                etag: format!("\"{media}-{width}\""),
            },
        }
    }

    fn json_of(index: &Index, post: &str) -> Value {
        let mut out = Vec::new();
        index.accounts["shop"].dressed[post].write("https://agent.example.com/", &mut out);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn an_image_is_dressed_with_its_largest_size_640_src_and_every_width() {
        let index = Index::build(vec![
            entry("1", "1", None, 320, 400),
            entry("1", "1", None, 1080, 1350),
            entry("1", "1", None, 640, 800),
        ]);
        assert_eq!(
            json_of(&index, "1"),
            json!({
                "width": 1080, "height": 1350,
                "src": "https://agent.example.com/media/shop/1/640.jpg",
                "srcset": "https://agent.example.com/media/shop/1/320.jpg 320w, https://agent.example.com/media/shop/1/640.jpg 640w, https://agent.example.com/media/shop/1/1080.jpg 1080w"
            })
        );
        assert_eq!(index.bytes(), 300);
    }

    #[test]
    fn an_album_takes_its_first_childs_image_and_lists_mirrored_children_in_order() {
        let index = Index::build(vec![
            entry("9", "93", Some(2), 240, 240),
            entry("9", "91", Some(0), 320, 168),
            entry("9", "91", Some(0), 640, 335),
        ]);
        let dressed = json_of(&index, "9");
        assert_eq!(dressed["width"], 640);
        assert_eq!(
            dressed["src"],
            "https://agent.example.com/media/shop/91/640.jpg"
        );
        let children = dressed["children"].as_array().unwrap();
        assert_eq!(children.len(), 2);
        assert_eq!(children[0]["id"], "91");
        assert_eq!(children[1]["id"], "93");
        assert_eq!(
            children[1]["src"],
            "https://agent.example.com/media/shop/93/240.jpg"
        );
        assert_eq!(
            children[1]["srcset"],
            "https://agent.example.com/media/shop/93/240.jpg 240w"
        );
        let account = &index.accounts["shop"];
        assert!(account.covers("9") && account.covers("93") && !account.covers("92"));
    }

    #[test]
    fn an_album_whose_first_child_is_missing_is_not_dressed() {
        let index = Index::build(vec![entry("9", "92", Some(1), 640, 640)]);
        let account = &index.accounts["shop"];
        assert!(!account.dressed.contains_key("9"));
        assert!(!account.covers("9") && account.covers("92"));
        let emptied = index.with_account("shop", Vec::new());
        assert!(emptied.account("shop").is_none());
        let kept = index.keeping("shop", |post| post == "9");
        assert!(kept.accounts["shop"].covers("92"));
        assert!(index.keeping("shop", |_| false).account("shop").is_none());
        let first = entry("9", "91", Some(0), 640, 640);
        let dressed = index.with_image(&first.place, vec![first.copy.clone()]);
        assert!(dressed.accounts["shop"].dressed.contains_key("9"));
        assert_eq!(dressed.bytes(), 200);
    }
}
