//! `GET /feed.html`: the feed as a page of its own, for sites that want no
//! script (an `<iframe src>`). The same markup and classes as
//! `static/embed.js` renders, from the same answer as `/feed.json`.

use super::served::{Item, Served, web};
use askama::Template;
use bytes::Bytes;
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
    /// `None` for a post with no picture: a placeholder shows instead.
    src: Option<String>,
    srcset: Option<String>,
    webp_srcset: Option<String>,
    width: u32,
    height: u32,
    alt: String,
    carousel: bool,
    video: bool,
    /// What the placeholder says.
    onward: &'static str,
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
        posts: served.data.into_iter().map(post).collect(),
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

fn post(mut item: Item) -> Post {
    let alt = alt_text(
        item.alt_text.as_deref(),
        item.caption.as_deref(),
        item.username.as_deref(),
    );
    let video = item.media_type == "VIDEO";
    let carousel = item.media_type == "CAROUSEL_ALBUM";
    let (src, srcset, webp_srcset, width, height) = match item.mirror.take() {
        Some(m) => (
            Some(m.src),
            m.srcset,
            m.webp_srcset,
            m.width.unwrap_or(DEFAULT_SIDE),
            m.height.unwrap_or(DEFAULT_SIDE),
        ),
        None => (
            item.upstream_picture(),
            None,
            None,
            DEFAULT_SIDE,
            DEFAULT_SIDE,
        ),
    };
    Post {
        href: item.permalink.and_then(web),
        src: src.and_then(web),
        srcset,
        webp_srcset,
        width,
        height,
        alt,
        carousel,
        video,
        onward: if video {
            "Watch on Instagram"
        } else {
            "View on Instagram"
        },
    }
}

/// The author's alt text where Instagram has it, else the caption, trimmed
/// and on one line (hashtags kept), cut at [`MAX_ALT`] characters; without
/// either, whose post it is.
pub(super) fn alt_text(
    alt_text: Option<&str>,
    caption: Option<&str>,
    username: Option<&str>,
) -> String {
    let written = alt_text.filter(|text| !text.trim().is_empty());
    let words: Vec<&str> = written
        .or(caption)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
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
    fn the_authors_alt_text_comes_before_the_caption() {
        assert_eq!(
            alt_text(
                Some(" Two loaves\non a board "),
                Some("New bread"),
                Some("sunny")
            ),
            "Two loaves on a board"
        );
        assert_eq!(alt_text(Some("  "), Some("New bread"), None), "New bread");
    }

    #[test]
    fn alt_text_is_the_caption_on_one_line_or_whose_post_it_is() {
        assert_eq!(
            alt_text(
                None,
                Some("  New bread\n\n#bakery  #sourdough "),
                Some("sunny")
            ),
            "New bread #bakery #sourdough"
        );
        assert_eq!(
            alt_text(None, Some("  "), Some("sunny")),
            "Instagram post by @sunny"
        );
        assert_eq!(alt_text(None, None, None), "Instagram post");
        let long = "é".repeat(300);
        let cut = alt_text(None, Some(&long), None);
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
    fn a_mirror_gives_the_size_and_the_widths_else_the_upstream_picture_square() {
        let body = br#"{"data":[
            {"id":"1","media_type":"IMAGE","media_url":"https://cdn.example/1.jpg",
             "permalink":"https://www.instagram.com/p/1/",
             "mirror":{"width":1080,"height":1350,"src":"https://agent.example/media/a/1/640.jpg",
                       "srcset":"https://agent.example/media/a/1/320.jpg 320w"}},
            {"id":"2","media_type":"VIDEO","media_url":"https://cdn.example/2.mp4",
             "thumbnail_url":"https://cdn.example/2.jpg"},
            {"id":"3","media_type":"CAROUSEL_ALBUM","media_url":"https://cdn.example/31.mp4",
             "children":{"data":[{"id":"31","media_type":"VIDEO","media_url":"https://cdn.example/31.mp4",
                                  "thumbnail_url":"https://cdn.example/31.jpg"}]}}
        ]}"#;
        let served: Served = serde_json::from_slice(body).unwrap();
        let posts: Vec<Post> = served.data.into_iter().map(post).collect();
        assert_eq!(
            posts[0].src.as_deref(),
            Some("https://agent.example/media/a/1/640.jpg")
        );
        assert_eq!((posts[0].width, posts[0].height), (1080, 1350));
        assert!(posts[0].srcset.is_some());
        assert_eq!(posts[1].src.as_deref(), Some("https://cdn.example/2.jpg"));
        assert_eq!((posts[1].width, posts[1].height), (1080, 1080));
        assert!(posts[1].video && posts[1].href.is_none());
        assert_eq!(
            posts[2].src.as_deref(),
            Some("https://cdn.example/31.jpg"),
            "an album opening with a video shows that video's thumbnail, never the video"
        );
    }

    #[test]
    fn a_post_with_no_picture_is_a_placeholder_that_says_where_to_see_it() {
        let body = br#"{"data":[
            {"id":"1","media_type":"VIDEO","caption":"Our reel",
             "permalink":"https://www.instagram.com/reel/1/"},
            {"id":"2","media_type":"IMAGE","media_url":"javascript:alert(1)"}
        ]}"#;
        let page = feed_frame(body, None, "default-src 'none'").unwrap();
        let html = std::str::from_utf8(page.body()).unwrap();
        assert_eq!(html.matches("class=\"ta-feed__item\"").count(), 2, "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains(
            r#"<span class="ta-feed__placeholder" role="img" aria-label="Our reel"><span class="ta-feed__placeholder-text" aria-hidden="true">Watch on Instagram</span></span>"#
        ), "{html}");
        assert!(html.contains(">View on Instagram<"), "{html}");
    }
}
