//! Which images a first feed page asks the mirror to keep: those of its
//! newest MIRROR_POSTS posts, in the order the feed shows them. An IMAGE
//! has its `media_url`, a VIDEO its `thumbnail_url` (the video itself is
//! not copied), an album each child's image the same way.

use crate::upstream::MediaPage;
use crate::upstream::media::Media;

/// A post whose images are wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPlan {
    pub post_id: String,
    /// When it was published, Unix ms (0 when upstream did not say).
    pub posted_at: i64,
    pub images: Vec<ImagePlan>,
}

/// One image to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePlan {
    pub media_id: String,
    /// `None` for the post's own image, else the child's place in the album.
    pub child: Option<u32>,
    /// The CDN URL upstream named; checked against MEDIA_CDN_HOSTS before
    /// anything is fetched.
    pub url: String,
}

/// Ids go into the agent's own URLs and JSON: Graph ids are digits, and
/// anything else is left alone rather than escaped.
pub fn is_media_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The image of one media object: a video's thumbnail, else its media URL.
fn image_url(media: &Media) -> Option<&String> {
    match media.media_type.as_str() {
        "VIDEO" => media.thumbnail_url.as_ref(),
        _ => media.media_url.as_ref(),
    }
}

/// The newest `posts` posts of a first page and the images each needs.
pub fn newest(page: &MediaPage, posts: usize) -> Vec<PostPlan> {
    page.data
        .iter()
        .filter(|post| is_media_id(&post.id))
        .take(posts)
        .map(|post| {
            let children = post.children.as_ref().map(|c| &c.data);
            let images = match children {
                Some(children) if post.media_type == "CAROUSEL_ALBUM" => children
                    .iter()
                    .enumerate()
                    .filter(|(_, child)| is_media_id(&child.id))
                    .filter_map(|(place, child)| {
                        Some(ImagePlan {
                            media_id: child.id.clone(),
                            child: Some(u32::try_from(place).ok()?),
                            url: image_url(child)?.clone(),
                        })
                    })
                    .collect(),
                _ => image_url(post)
                    .map(|url| ImagePlan {
                        media_id: post.id.clone(),
                        child: None,
                        url: url.clone(),
                    })
                    .into_iter()
                    .collect(),
            };
            PostPlan {
                post_id: post.id.clone(),
                posted_at: post.posted_at_ms(),
                images,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page() -> MediaPage {
        MediaPage::from_upstream(json!({"data": [
            {"id": "1", "media_type": "IMAGE", "media_url": "https://x.cdninstagram.com/1.jpg",
             "timestamp": "2026-05-01T10:00:00+0000"},
            {"id": "2", "media_type": "VIDEO", "media_url": "https://x.cdninstagram.com/2.mp4",
             "thumbnail_url": "https://x.cdninstagram.com/2t.jpg"},
            {"id": "3", "media_type": "CAROUSEL_ALBUM", "media_url": "https://x.cdninstagram.com/31.jpg",
             "children": {"data": [
                {"id": "31", "media_type": "IMAGE", "media_url": "https://x.cdninstagram.com/31.jpg"},
                {"id": "32", "media_type": "VIDEO", "media_url": "https://x.cdninstagram.com/32.mp4",
                 "thumbnail_url": "https://x.cdninstagram.com/32t.jpg"},
                {"id": "3/../x", "media_type": "IMAGE", "media_url": "https://x.cdninstagram.com/33.jpg"}]}},
            {"id": "4", "media_type": "VIDEO"},
            {"id": "5", "media_type": "IMAGE", "media_url": "https://x.cdninstagram.com/5.jpg"}
        ]}))
        .unwrap()
    }

    #[test]
    fn images_videos_thumbnails_and_album_children_are_planned_in_feed_order() {
        let plans = newest(&page(), 4);
        let ids: Vec<&str> = plans.iter().map(|p| p.post_id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3", "4"]);
        assert_eq!(plans[0].posted_at, 1_777_629_600_000);
        assert_eq!(plans[0].images[0].url, "https://x.cdninstagram.com/1.jpg");
        assert_eq!(
            plans[1].images,
            [ImagePlan {
                media_id: "2".into(),
                child: None,
                url: "https://x.cdninstagram.com/2t.jpg".into()
            }],
            "a video's thumbnail, never the video"
        );
        let album: Vec<(&str, Option<u32>, &str)> = plans[2]
            .images
            .iter()
            .map(|i| (i.media_id.as_str(), i.child, i.url.as_str()))
            .collect();
        assert_eq!(
            album,
            [
                ("31", Some(0), "https://x.cdninstagram.com/31.jpg"),
                ("32", Some(1), "https://x.cdninstagram.com/32t.jpg")
            ],
            "children in order, an id unfit for a URL left out"
        );
        assert!(plans[3].images.is_empty(), "a video without thumbnail");
        assert_eq!(newest(&page(), 0), []);
        assert_eq!(newest(&page(), 50).len(), 5);
    }

    #[test]
    fn only_plain_ids_are_media_ids() {
        assert!(is_media_id("17895695668004550"));
        for bad in ["", "1/2", "..", "1\"", &"9".repeat(65)] {
            assert!(!is_media_id(bad), "{bad}");
        }
    }
}
