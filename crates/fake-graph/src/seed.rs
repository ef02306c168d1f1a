//! Seeds a user with varied media: images, videos with thumbnails, albums of
//! two or three children, captions sometimes absent, timestamps descending.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;

use super::ids;
use super::model::{FakeMedia, FakeUser, MediaType, State, User};

const CAPTIONS: &[&str] = &[
    "Morning light over the harbour #sunrise #harbour",
    "New batch out of the oven 🍞 #bakery #sourdough",
    "Behind the scenes at the studio #behindthescenes",
    "Weekend market finds #market #local",
    "Quiet corner, good coffee ☕ #coffee",
    "Tiles, \"quotes\" & <angles> — escaping test #design",
];

/// What authors wrote as alt text for some images.
const ALT_TEXTS: &[&str] = &[
    "Two sourdough loaves cooling on a wooden board",
    "A harbour at dawn, fishing boats on still water",
    "A flat white in a blue cup on a marble table",
    "Jars of honey stacked on a market stall",
];

/// Alt text for every other image, so feeds hold both kinds.
fn alt_text_for(i: usize) -> Option<String> {
    i.is_multiple_of(2)
        .then(|| ALT_TEXTS[(i / 2) % ALT_TEXTS.len()].to_string())
}

pub(crate) fn add_user(state: &mut State, username: &str, media_count: usize) -> FakeUser {
    let public = FakeUser {
        ig_user_id: state.unique_id("17841", 12),
        app_scoped_id: state.unique_id("2", 15),
        username: username.to_string(),
        fb_user_id: state.unique_id("10", 13),
        page_id: state.unique_id("1", 14),
    };
    let mut rng = rand::rng();
    let user = User {
        public: public.clone(),
        name: format!("{username} (fake)"),
        followers_count: rng.random_range(10..50_000),
        follows_count: rng.random_range(10..2_000),
        page_name: format!("{username} Page"),
        media: Vec::new(),
    };
    let index = state.users.len();
    state.pages.push(super::model::Page {
        id: public.page_id.clone(),
        name: user.page_name.clone(),
        manager: index,
        ig_user: Some(index),
        business_owned: false,
    });
    state.users.push(user);
    let now = state.now();
    let media: Vec<String> = (0..media_count)
        .map(|i| add_post(state, &public, i, post_time(now, i)))
        .collect();
    state.users[index].media = media;
    public
}

/// Posts step back from an hour ago in uneven gaps, so order is strict.
fn post_time(now: DateTime<Utc>, i: usize) -> DateTime<Utc> {
    let i = i as i64;
    now - Duration::hours(1) - Duration::hours(i * 19) - Duration::minutes((i * 37) % 60)
}

fn media_type_for(i: usize) -> MediaType {
    match i % 5 {
        1 => MediaType::Video,
        3 => MediaType::CarouselAlbum,
        _ => MediaType::Image,
    }
}

fn add_post(state: &mut State, owner: &FakeUser, i: usize, timestamp: DateTime<Utc>) -> String {
    let caption = (i % 4 != 2).then(|| CAPTIONS[i % CAPTIONS.len()].to_string());
    let media_type = media_type_for(i);
    let post = Post {
        media_type,
        trial: false,
        caption,
        alt_text: alt_text_for(i),
        timestamp,
        children: 2 + i % 2,
        hide_likes: i % 7 == 6,
    };
    insert_post(state, owner, post)
}

/// A post published at the fake's now, put first in the user's media.
pub(crate) fn add_post_now(
    state: &mut State,
    user: usize,
    media_type: MediaType,
    caption: Option<&str>,
    trial: bool,
) -> FakeMedia {
    let owner = state.users[user].public.clone();
    let post = Post {
        media_type,
        trial,
        caption: caption.map(str::to_string),
        alt_text: None,
        timestamp: state.now(),
        children: 2,
        hide_likes: false,
    };
    let id = insert_post(state, &owner, post);
    state.users[user].media.insert(0, id.clone());
    state.media[&id].clone()
}

struct Post {
    media_type: MediaType,
    /// A trial reel: a video shown only to non-followers.
    trial: bool,
    caption: Option<String>,
    /// Kept for images and albums' images only.
    alt_text: Option<String>,
    timestamp: DateTime<Utc>,
    /// Album size, when `media_type` is an album.
    children: usize,
    hide_likes: bool,
}

fn insert_post(state: &mut State, owner: &FakeUser, post: Post) -> String {
    let id = state.unique_id("18", 15);
    let children = if post.media_type == MediaType::CarouselAlbum {
        (0..post.children)
            .map(|c| {
                add_child(
                    state,
                    owner,
                    &id,
                    c,
                    post.timestamp,
                    post.alt_text.as_deref(),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut rng = rand::rng();
    let media = FakeMedia {
        id: id.clone(),
        owner: owner.ig_user_id.clone(),
        media_type: post.media_type,
        hashtags: post.caption.as_deref().map(hashtags_in).unwrap_or_default(),
        caption: post.caption,
        alt_text: post
            .alt_text
            .filter(|_| post.media_type == MediaType::Image),
        timestamp: post.timestamp,
        shortcode: ids::shortcode(),
        like_count: (!post.hide_likes).then(|| rng.random_range(0..5_000)),
        comments_count: rng.random_range(0..200),
        shared_to_feed: (post.media_type == MediaType::Video).then_some(!post.trial),
        children,
        parent: None,
    };
    state.media.insert(id.clone(), media);
    id
}

fn add_child(
    state: &mut State,
    owner: &FakeUser,
    parent: &str,
    c: usize,
    timestamp: DateTime<Utc>,
    album_alt_text: Option<&str>,
) -> String {
    let id = state.unique_id("17", 15);
    let media_type = if c == 1 {
        MediaType::Video
    } else {
        MediaType::Image
    };
    let media = FakeMedia {
        id: id.clone(),
        owner: owner.ig_user_id.clone(),
        media_type,
        caption: None,
        // The album's first image carries the text the author wrote.
        alt_text: album_alt_text.filter(|_| c == 0).map(str::to_string),
        timestamp,
        shortcode: ids::shortcode(),
        like_count: None,
        comments_count: 0,
        shared_to_feed: None,
        children: Vec::new(),
        parent: Some(parent.to_string()),
        hashtags: Vec::new(),
    };
    state.media.insert(id.clone(), media);
    id
}

pub(crate) fn hashtags_in(caption: &str) -> Vec<String> {
    caption
        .split_whitespace()
        .filter_map(|word| word.strip_prefix('#'))
        .map(|tag| tag.to_lowercase())
        .filter(|tag| !tag.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::options::FakeOptions;
    use chrono::TimeZone;

    #[test]
    fn seeded_media_is_varied_and_newest_first() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut state = State::new(ManualClock::new(start).into(), FakeOptions::default());
        let user = add_user(&mut state, "bakery", 12);
        let ids = state.users[0].media.clone();
        assert_eq!(ids.len(), 12);
        let posts: Vec<&FakeMedia> = ids.iter().map(|id| &state.media[id]).collect();
        assert!(posts.windows(2).all(|w| w[0].timestamp > w[1].timestamp));
        assert!(posts.iter().any(|m| m.media_type == MediaType::Video));
        assert!(posts.iter().any(|m| m.caption.is_none()));
        let album = posts
            .iter()
            .find(|m| m.media_type == MediaType::CarouselAlbum)
            .unwrap();
        assert!((2..=3).contains(&album.children.len()));
        assert_eq!(user.ig_user_id.len(), 17);
        assert_eq!(user.app_scoped_id.len(), 16);
    }

    #[test]
    fn hashtags_are_read_from_captions() {
        assert_eq!(hashtags_in("Hi #Sunrise and #sea"), ["sunrise", "sea"]);
    }
}
