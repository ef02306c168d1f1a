//! `GET /feed.rss`: the feed as RSS 2.0 with Media RSS, for feed readers,
//! automation services and site builders that import feeds. One item per
//! post of the same answer as `/feed.json` (its account, limit and
//! filters): the permalink, a title and description from the caption, the
//! date, a guid that stays the post's, and its picture, the agent's own
//! copy where it keeps one.

use askama::Template;
use bytes::Bytes;
use chrono::DateTime;
use warp::http::{HeaderValue, Response, StatusCode, header};

use super::feed::alt_text;
use super::served::{Item, Served, web};

/// A caption's first line longer than this is cut in the title.
const MAX_TITLE: usize = 100;

#[derive(Template)]
#[template(path = "feed.xml", escape = "html")]
struct Channel {
    title: String,
    link: String,
    description: String,
    self_url: String,
    /// The newest post's date: the same answer gives the same document.
    built: Option<String>,
    ttl_minutes: i64,
    items: Vec<Entry>,
}

struct Entry {
    title: String,
    link: Option<String>,
    guid: String,
    date: Option<String>,
    caption: Option<String>,
    alt: String,
    picture: Option<Picture>,
}

struct Picture {
    /// The largest copy the agent keeps, else Instagram's own URL.
    url: String,
    thumbnail: String,
    size: Option<(u32, u32)>,
}

/// The RSS document for `body`, a `/feed.json` answer for `account`,
/// which lives at `self_url` and may be kept `ttl_minutes`. `None` if
/// `body` is not a feed answer.
pub fn feed_rss(
    body: &[u8],
    account: &str,
    self_url: &str,
    ttl_minutes: i64,
) -> Option<Response<Bytes>> {
    let served: Served = serde_json::from_slice(body).ok()?;
    let mut usernames: Vec<String> = Vec::new();
    for name in served.data.iter().filter_map(|item| item.username.clone()) {
        if !usernames.contains(&name) {
            usernames.push(name);
        }
    }
    let items: Vec<Entry> = served.data.into_iter().map(entry).collect();
    let (title, link, description) = match usernames.as_slice() {
        [name] => (
            format!("@{name} on Instagram"),
            format!("https://www.instagram.com/{name}/"),
            format!("Recent Instagram posts by @{name}"),
        ),
        [_, _, ..] => {
            let names: Vec<String> = usernames.iter().map(|n| format!("@{n}")).collect();
            (
                format!("{} on Instagram", names.join(", ")),
                self_url.to_string(),
                format!("Recent Instagram posts by {}", names.join(", ")),
            )
        }
        [] => (
            format!("{account} on Instagram"),
            self_url.to_string(),
            "Recent Instagram posts".to_string(),
        ),
    };
    let channel = Channel {
        title,
        link,
        description,
        self_url: self_url.to_string(),
        built: items.iter().find_map(|i| i.date.clone()),
        ttl_minutes,
        items,
    };
    let xml = channel.render().ok()?;
    let mut response = Response::new(Bytes::from(xml));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/rss+xml; charset=utf-8"),
    );
    Some(response)
}

fn entry(mut item: Item) -> Entry {
    let kind = match item.media_type.as_str() {
        "VIDEO" => "Video",
        "CAROUSEL_ALBUM" => "Album",
        _ => "Photo",
    };
    let caption = item
        .caption
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let title = caption
        .as_deref()
        .and_then(|c| c.lines().map(str::trim).find(|line| !line.is_empty()))
        .map(|line| cut(line, MAX_TITLE))
        .unwrap_or_else(|| match &item.username {
            Some(name) => format!("{kind} by @{name}"),
            None => kind.to_string(),
        });
    let alt = alt_text(
        item.alt_text.as_deref(),
        item.caption.as_deref(),
        item.username.as_deref(),
    );
    let date = item
        .timestamp
        .as_deref()
        .and_then(|t| DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%z").ok())
        .map(|t| t.to_rfc2822());
    let picture = match item.mirror.take() {
        Some(mirror) => {
            let largest = mirror
                .srcset
                .as_deref()
                .and_then(|set| set.split(',').next_back())
                .and_then(|entry| entry.split_whitespace().next())
                .map(str::to_string);
            Some(Picture {
                url: largest.unwrap_or_else(|| mirror.src.clone()),
                thumbnail: mirror.src,
                size: mirror.width.zip(mirror.height),
            })
        }
        None => item.upstream_picture().and_then(web).map(|url| Picture {
            thumbnail: url.clone(),
            url,
            size: None,
        }),
    };
    Entry {
        title,
        link: item.permalink.take().and_then(web),
        guid: format!("instagram-media-{}", item.id),
        date,
        caption,
        alt,
        picture,
    }
}

/// `text` cut at `max` characters, with an ellipsis when it was longer.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"data":[
        {"id":"18","caption":"New bread <today> & more\n#bakery","alt_text":"Two loaves on a board",
         "media_type":"IMAGE","permalink":"https://www.instagram.com/p/A/",
         "timestamp":"2026-12-07T09:30:00+0000","username":"sunny",
         "mirror":{"width":1080,"height":1350,"src":"https://agent.example/media/d/18/640.jpg",
                   "srcset":"https://agent.example/media/d/18/320.jpg 320w, https://agent.example/media/d/18/1080.jpg 1080w"}},
        {"id":"19","media_type":"VIDEO","media_url":"https://cdn.example/19.mp4",
         "thumbnail_url":"https://cdn.example/19.jpg","permalink":"javascript:alert(1)",
         "timestamp":"2026-12-06T09:30:00+0000","username":"sunny"},
        {"id":"20","media_type":"VIDEO","username":"sunny"}
    ]}"#;

    fn xml() -> String {
        let answer = feed_rss(
            BODY,
            "default",
            "https://agent.example/feed.rss?a=1&b=2",
            15,
        )
        .unwrap();
        assert_eq!(
            answer.headers()[header::CONTENT_TYPE],
            "application/rss+xml; charset=utf-8"
        );
        String::from_utf8(answer.body().to_vec()).unwrap()
    }

    #[test]
    fn each_post_is_an_item_with_its_link_date_guid_caption_and_picture() {
        let xml = xml();
        assert!(
            xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
            "{xml}"
        );
        assert!(xml.contains("<title>@sunny on Instagram</title>"), "{xml}");
        assert!(
            xml.contains("<link>https://www.instagram.com/sunny/</link>"),
            "{xml}"
        );
        assert!(
            xml.contains(
                r#"<atom:link href="https://agent.example/feed.rss?a=1&#38;b=2" rel="self""#
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<lastBuildDate>Mon, 7 Dec 2026 09:30:00 +0000</lastBuildDate>"),
            "{xml}"
        );
        assert_eq!(xml.matches("<item>").count(), 3, "{xml}");
        // Escaped, titled by its first line.
        assert!(
            xml.contains("<title>New bread &#60;today&#62; &#38; more</title>"),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<guid isPermaLink="false">instagram-media-18</guid>"#),
            "{xml}"
        );
        assert!(
            xml.contains("<pubDate>Mon, 7 Dec 2026 09:30:00 +0000</pubDate>"),
            "{xml}"
        );
        assert!(xml.contains(
            r#"<media:content url="https://agent.example/media/d/18/1080.jpg" medium="image" type="image/jpeg" width="1080" height="1350">"#
        ), "{xml}");
        assert!(
            xml.contains(r#"<media:thumbnail url="https://agent.example/media/d/18/640.jpg"/>"#),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<media:description type=\"plain\">Two loaves on a board</media:description>"
            ),
            "{xml}"
        );
        // A video without a caption: its thumbnail, never the video, and no
        // link that is not a web URL.
        assert!(xml.contains("<title>Video by @sunny</title>"), "{xml}");
        assert!(xml.contains(r#"url="https://cdn.example/19.jpg""#), "{xml}");
        assert!(
            !xml.contains("19.mp4") && !xml.contains("javascript:"),
            "{xml}"
        );
    }

    #[test]
    fn the_document_parses_as_xml() {
        let xml = xml();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let items: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("item"))
            .collect();
        assert_eq!(items.len(), 3);
    }

    #[test]
    fn long_first_lines_are_cut() {
        assert_eq!(cut("short", 10), "short");
        let long = cut(&"é".repeat(150), MAX_TITLE);
        assert_eq!(long.chars().count(), MAX_TITLE);
        assert!(long.ends_with('…'));
    }
}
