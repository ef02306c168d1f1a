//! What the feed's renderings (`/feed.html`, `/feed.rss`) read of a
//! `/feed.json` answer: the fields they show, nothing else.

use serde::Deserialize;

/// What of `/feed.json`'s answer they show.
#[derive(Deserialize)]
pub(super) struct Served {
    pub data: Vec<Item>,
    #[serde(default)]
    pub paging: Option<Paging>,
}

#[derive(Deserialize)]
pub(super) struct Item {
    #[serde(default)]
    pub id: String,
    pub caption: Option<String>,
    pub alt_text: Option<String>,
    pub media_type: String,
    pub media_url: Option<String>,
    pub permalink: Option<String>,
    pub thumbnail_url: Option<String>,
    pub timestamp: Option<String>,
    pub username: Option<String>,
    pub mirror: Option<Mirror>,
    pub children: Option<Children>,
}

#[derive(Deserialize)]
pub(super) struct Children {
    pub data: Vec<Child>,
}

#[derive(Deserialize)]
pub(super) struct Child {
    pub media_type: String,
    pub media_url: Option<String>,
    pub thumbnail_url: Option<String>,
}

/// The agent's own copies of the image, where it keeps them.
#[derive(Deserialize)]
pub(super) struct Mirror {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub src: String,
    pub srcset: Option<String>,
    pub webp_srcset: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Paging {
    pub next: Option<String>,
    pub cursors: Option<Cursors>,
}

#[derive(Deserialize)]
pub(super) struct Cursors {
    pub after: Option<String>,
}

impl Item {
    /// Its picture upstream, when the agent keeps no copy: a video's
    /// thumbnail, an album's first item's, or the image itself; never a
    /// video file.
    pub fn upstream_picture(&mut self) -> Option<String> {
        let carousel = self.media_type == "CAROUSEL_ALBUM";
        match self.children.take().and_then(|c| c.data.into_iter().next()) {
            Some(first) if carousel => {
                picture(&first.media_type, first.media_url, first.thumbnail_url)
            }
            _ => picture(
                &self.media_type,
                self.media_url.take(),
                self.thumbnail_url.take(),
            ),
        }
    }
}

fn picture(
    media_type: &str,
    media_url: Option<String>,
    thumbnail_url: Option<String>,
) -> Option<String> {
    if media_type == "VIDEO" {
        thumbnail_url
    } else {
        media_url
    }
}

/// Only web URLs reach an href or src: never `javascript:` or `data:`.
pub(super) fn web(url: String) -> Option<String> {
    let parsed = url::Url::parse(&url).ok()?;
    matches!(parsed.scheme(), "https" | "http").then_some(url)
}
