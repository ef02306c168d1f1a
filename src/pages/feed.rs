//! `GET /feed.html`: the feed as a page of its own, for sites that want no
//! script (an `<iframe src>`). The same markup and classes as
//! `static/embed.js` renders, from the same answer as `/feed.json`.

use askama::Template;
use bytes::Bytes;
use serde::Deserialize;
use warp::http::{HeaderValue, Response, StatusCode, header};

/// Media shown in a third of the width from 640 px, else in half.
const SIZES: &str = "(min-width: 640px) 33vw, 50vw";
/// A caption longer than this is cut in the alt text.
const MAX_ALT: usize = 240;
/// Without a mirror's size an image is laid out square.
const DEFAULT_SIDE: u32 = 1080;

#[derive(Template)]
#[template(path = "feed.html")]
struct FeedFrame<'a> {
    posts: Vec<Post>,
    /// The link to the next page, relative to this one.
    more: Option<String>,
    failed: bool,
    sizes: &'a str,
}

struct Post {
    href: Option<String>,
    src: String,
    srcset: Option<String>,
    webp_srcset: Option<String>,
    width: u32,
    height: u32,
    alt: String,
    carousel: bool,
    video: bool,
}

/// What of `/feed.json`'s answer the page shows.
#[derive(Deserialize)]
struct Served {
    data: Vec<Item>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Item {
    caption: Option<String>,
    media_type: String,
    media_url: Option<String>,
    permalink: Option<String>,
    thumbnail_url: Option<String>,
    username: Option<String>,
    mirror: Option<Mirror>,
}

/// The agent's own copies of the image, where it keeps them.
#[derive(Deserialize)]
struct Mirror {
    width: Option<u32>,
    height: Option<u32>,
    src: String,
    srcset: Option<String>,
    webp_srcset: Option<String>,
}

#[derive(Deserialize)]
struct Paging {
    next: Option<String>,
    cursors: Option<Cursors>,
}

#[derive(Deserialize)]
struct Cursors {
    after: Option<String>,
}

/// The page for `body`, the JSON answer to `query` (the request's own query
/// string, which the "Load more" link repeats with the next cursor), with
/// the security policy `csp`. `None` if `body` is not a feed answer.
pub fn feed_frame(body: &[u8], query: Option<&str>, csp: &str) -> Option<Response<Bytes>> {
    let served: Served = serde_json::from_slice(body).ok()?;
    let after = served
        .paging
        .filter(|p| p.next.is_some())
        .and_then(|p| p.cursors?.after);
    let page = FeedFrame {
        posts: served.data.into_iter().filter_map(post).collect(),
        more: after.map(|cursor| next_page(query, &cursor)),
        failed: false,
        sizes: SIZES,
    };
    Some(framed(super::render_page(StatusCode::OK, &page, csp)))
}

/// The page's polite error state, with `status`, when the feed cannot be
/// had: what went wrong is in the log, not in a visitor's frame.
pub fn feed_frame_error(status: StatusCode, csp: &str) -> Response<Bytes> {
    let page = FeedFrame {
        posts: Vec::new(),
        more: None,
        failed: true,
        sizes: SIZES,
    };
    framed(super::render_page(status, &page, csp))
}

/// The frame is meant for other sites' pages: its `frame-ancestors` says
/// which, so the pages' blanket `X-Frame-Options: DENY` goes.
fn framed(mut response: Response<Bytes>) -> Response<Bytes> {
    let headers = response.headers_mut();
    headers.remove(header::X_FRAME_OPTIONS);
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

fn post(item: Item) -> Option<Post> {
    let alt = alt_text(item.caption.as_deref(), item.username.as_deref());
    let (src, srcset, webp_srcset, width, height) = match item.mirror {
        Some(m) => (
            Some(m.src),
            m.srcset,
            m.webp_srcset,
            m.width.unwrap_or(DEFAULT_SIDE),
            m.height.unwrap_or(DEFAULT_SIDE),
        ),
        None => {
            let src = if item.media_type == "VIDEO" {
                item.thumbnail_url
            } else {
                item.media_url
            };
            (src, None, None, DEFAULT_SIDE, DEFAULT_SIDE)
        }
    };
    Some(Post {
        href: item.permalink.and_then(web),
        src: web(src?)?,
        srcset,
        webp_srcset,
        width,
        height,
        alt,
        carousel: item.media_type == "CAROUSEL_ALBUM",
        video: item.media_type == "VIDEO",
    })
}

/// Only web URLs reach an href or src: never `javascript:` or `data:`.
fn web(url: String) -> Option<String> {
    let parsed = url::Url::parse(&url).ok()?;
    matches!(parsed.scheme(), "https" | "http").then_some(url)
}

/// The caption, trimmed and on one line (hashtags kept), cut at
/// [`MAX_ALT`] characters; without one, whose post it is.
fn alt_text(caption: Option<&str>, username: Option<&str>) -> String {
    let words: Vec<&str> = caption.unwrap_or_default().split_whitespace().collect();
    let text = words.join(" ");
    if text.chars().count() > MAX_ALT {
        let mut cut: String = text.chars().take(MAX_ALT - 1).collect();
        cut.push('…');
        return cut;
    }
    if !text.is_empty() {
        return text;
    }
    match username {
        Some(name) => format!("Instagram post by @{name}"),
        None => "Instagram post".to_string(),
    }
}

/// `?…` with the request's parameters, its cursor replaced by `after`.
fn next_page(query: Option<&str>, after: &str) -> String {
    let kept = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(key, _)| key != "after" && key != "before");
    let mut next = url::form_urlencoded::Serializer::new(String::new());
    next.extend_pairs(kept);
    next.append_pair("after", after);
    format!("?{}", next.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alt_text_is_the_caption_on_one_line_or_whose_post_it_is() {
        assert_eq!(
            alt_text(Some("  New bread\n\n#bakery  #sourdough "), Some("sunny")),
            "New bread #bakery #sourdough"
        );
        assert_eq!(
            alt_text(Some("  "), Some("sunny")),
            "Instagram post by @sunny"
        );
        assert_eq!(alt_text(None, None), "Instagram post");
        let long = "é".repeat(300);
        let cut = alt_text(Some(&long), None);
        assert_eq!(cut.chars().count(), MAX_ALT);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn the_next_page_keeps_the_parameters_and_replaces_the_cursor() {
        assert_eq!(
            next_page(Some("account=shop&limit=6&tag=bakery&after=OLD"), "NEW"),
            "?account=shop&limit=6&tag=bakery&after=NEW"
        );
        assert_eq!(next_page(None, "C+/="), "?after=C%2B%2F%3D");
    }

    #[test]
    fn only_web_urls_become_links_or_images() {
        assert!(web("javascript:alert(1)".into()).is_none());
        assert!(web("data:image/png;base64,AAAA".into()).is_none());
        assert!(web("https://www.instagram.com/p/x/".into()).is_some());
    }

    #[test]
    fn a_mirror_gives_the_size_and_the_widths_else_the_media_url_square() {
        let body = br#"{"data":[
            {"id":"1","media_type":"IMAGE","media_url":"https://cdn.example/1.jpg",
             "permalink":"https://www.instagram.com/p/1/",
             "mirror":{"width":1080,"height":1350,"src":"https://agent.example/media/a/1/640.jpg",
                       "srcset":"https://agent.example/media/a/1/320.jpg 320w"}},
            {"id":"2","media_type":"VIDEO","media_url":"https://cdn.example/2.mp4",
             "thumbnail_url":"https://cdn.example/2.jpg"},
            {"id":"3","media_type":"IMAGE"}
        ]}"#;
        let served: Served = serde_json::from_slice(body).unwrap();
        let posts: Vec<Post> = served.data.into_iter().filter_map(post).collect();
        assert_eq!(posts.len(), 2, "a post without an image is left out");
        assert_eq!(posts[0].src, "https://agent.example/media/a/1/640.jpg");
        assert_eq!((posts[0].width, posts[0].height), (1080, 1350));
        assert!(posts[0].srcset.is_some());
        assert_eq!(posts[1].src, "https://cdn.example/2.jpg");
        assert_eq!((posts[1].width, posts[1].height), (1080, 1080));
        assert!(posts[1].video && posts[1].href.is_none());
    }
}
