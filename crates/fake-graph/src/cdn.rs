//! A fake of Instagram's image CDN (scontent.cdninstagram.com) on a
//! listener of its own, so that a test can stop the CDN while the Graph
//! API keeps answering, as when Instagram's links have expired and its CDN
//! refuses them.
//!
//! `GET /{name}.jpg` answers a real JPEG at one of Instagram's feed sizes
//! (1080×1350 portrait, 1080×1080 square, 1080×566 landscape), made
//! deterministically from the name; `{name}.mp4` a video. Like the real
//! CDN, a URL whose `oe=` expiry (hex Unix seconds) has passed answers 403
//! "URL signature expired" (what clients of the Graph API report of stale
//! media URLs; instagram-api.md, observations on media pages). [`FakeCdn::answer`] makes one
//! name answer otherwise: another size, or one of the ways a download goes
//! wrong.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use image::{ImageFormat, RgbImage};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use warp::Filter;
use warp::http::Response;

use crate::clock::Now;

/// Instagram's three feed shapes at the width its CDN serves.
const FEED_SIZES: [(u32, u32); 3] = [(1080, 1350), (1080, 1080), (1080, 566)];

/// What one name answers instead of its default image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CdnImage {
    /// A JPEG of this size (Instagram also serves small ones, e.g. 240×240).
    Jpeg { width: u32, height: u32 },
    /// HTTP 200 with an HTML page.
    NotAnImage,
    /// The first part of a JPEG, as a connection cut short delivers it.
    Truncated,
    /// A small JPEG whose header claims 60000×60000 pixels.
    Bomb,
    /// A JPEG padded to this many bytes.
    Oversized(usize),
    /// A 302 to this URL.
    Redirect(String),
}

struct State {
    clock: Now,
    answers: HashMap<String, CdnImage>,
    requests: usize,
    made: HashMap<(String, u32, u32), Bytes>,
}

type Shared = Arc<Mutex<State>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running fake CDN; stops on [`FakeCdn::stop`] or when dropped.
pub struct FakeCdn {
    shared: Shared,
    addr: SocketAddr,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl FakeCdn {
    /// Starts on `127.0.0.1:0`. Panics only if the loopback cannot be bound.
    pub async fn start(clock: impl Into<Now>) -> FakeCdn {
        let clock = clock.into();
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("the fake CDN binds a loopback port");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared: Shared = Arc::new(Mutex::new(State {
            clock,
            answers: HashMap::new(),
            requests: 0,
            made: HashMap::new(),
        }));
        let (stop, task) = crate::server::spawn(routes(shared.clone()), listener);
        FakeCdn {
            shared,
            addr,
            stop: Mutex::new(Some(stop)),
            task: Mutex::new(Some(task)),
        }
    }

    /// `http://127.0.0.1:PORT`: media URLs are `{base_url}/{name}.jpg?oe=…`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT`, as MEDIA_CDN_HOSTS lists it.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Makes `name` (a media id, or `{id}_thumb` for a video's thumbnail)
    /// answer `image` from now on.
    pub fn answer(&self, name: &str, image: CdnImage) {
        lock(&self.shared).answers.insert(name.to_string(), image);
    }

    /// The size `name` is served at unless [`FakeCdn::answer`] says otherwise.
    pub fn size_of(name: &str) -> (u32, u32) {
        FEED_SIZES[usize::from(seed(name)[0]) % FEED_SIZES.len()]
    }

    /// Requests received since start.
    pub fn requests(&self) -> usize {
        lock(&self.shared).requests
    }

    /// Stops accepting and closes its connections: from now on the CDN
    /// refuses every connection. Returns once it has stopped.
    pub async fn stop(&self) {
        let stop = self
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut task) = task
            && tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for FakeCdn {
    fn drop(&mut self) {
        let stop = self
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
    }
}

fn routes(shared: Shared) -> impl Filter<Extract = (Response<Bytes>,), Error = Infallible> + Clone {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::path::tail()
        .and(query)
        .map(move |tail: warp::path::Tail, query: String| {
            lock(&shared).requests += 1;
            serve(&shared, tail.as_str(), &query)
        })
}

fn reply(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(body.into())
        .expect("a valid response")
}

/// The JPEG of `name` at this size, made once (outside the lock, so that
/// concurrent downloads are not served one at a time).
fn made(shared: &Shared, name: &str, width: u32, height: u32) -> Bytes {
    let key = (name.to_string(), width, height);
    if let Some(bytes) = lock(shared).made.get(&key) {
        return bytes.clone();
    }
    let bytes = Bytes::from(jpeg(name, width, height));
    lock(shared).made.insert(key, bytes.clone());
    bytes
}

fn serve(shared: &Shared, path: &str, query: &str) -> Response<Bytes> {
    let Some((name, ext)) = path.rsplit_once('.').filter(|(n, _)| !n.contains('/')) else {
        return reply(404, "text/plain; charset=utf-8", "Not found");
    };
    let expired = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "oe")
        .and_then(|(_, oe)| parse_expiry(&oe))
        .is_some_and(|expiry| expiry <= lock(shared).clock.now());
    if expired {
        return reply(403, "text/plain; charset=utf-8", "URL signature expired");
    }
    if ext == "mp4" {
        // The start of an MP4 file: its `ftyp` box.
        return reply(200, "video/mp4", &b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom"[..]);
    }
    let (width, height) = FakeCdn::size_of(name);
    let answer = lock(shared)
        .answers
        .get(name)
        .cloned()
        .unwrap_or(CdnImage::Jpeg { width, height });
    let made = |w: u32, h: u32| made(shared, name, w, h);
    let image = |body: Bytes| {
        let mut response = reply(200, "image/jpeg", body);
        response.headers_mut().insert(
            "cache-control",
            warp::http::HeaderValue::from_static("max-age=1209600"),
        );
        response
    };
    match answer {
        CdnImage::Jpeg { width, height } => image(made(width, height)),
        CdnImage::NotAnImage => reply(
            200,
            "text/html; charset=utf-8",
            "<!DOCTYPE html><html><body>Sorry, this content isn't available right now</body></html>",
        ),
        CdnImage::Truncated => {
            let whole = made(width, height);
            image(whole.slice(..whole.len() * 3 / 5))
        }
        CdnImage::Bomb => image(Bytes::from(bomb())),
        CdnImage::Oversized(size) => {
            let mut body = made(width, height).to_vec();
            body.resize(size.max(body.len()), 0);
            image(Bytes::from(body))
        }
        CdnImage::Redirect(to) => Response::builder()
            .status(302)
            .header("location", to)
            .body(Bytes::new())
            .expect("a valid response"),
    }
}

fn parse_expiry(hex_seconds: &str) -> Option<DateTime<Utc>> {
    let seconds = i64::from_str_radix(hex_seconds, 16).ok()?;
    DateTime::from_timestamp(seconds, 0)
}

fn seed(name: &str) -> [u8; 32] {
    Sha256::digest(name.as_bytes()).into()
}

/// A photo-like JPEG: a gradient in the name's colours with grain (in
/// blocks of 2×2 pixels, cheap to make), so that it weighs about what a
/// photo of its size does.
pub fn jpeg(name: &str, width: u32, height: u32) -> Vec<u8> {
    let seed = seed(name);
    let mut noise = u64::from_le_bytes(seed[..8].try_into().expect("8 bytes")) | 1;
    let (small_w, small_h) = (width.div_ceil(2), height.div_ceil(2));
    let (w, h) = (small_w, small_h);
    let small = RgbImage::from_fn(small_w, small_h, |x, y| {
        // xorshift: the same grain for the same name.
        noise ^= noise << 13;
        noise ^= noise >> 7;
        noise ^= noise << 17;
        let grain = (noise % 48) as u32;
        let shade = (x * 128 / w) + (y * 96 / h);
        image::Rgb(std::array::from_fn(|c| {
            (u32::from(seed[8 + c] / 2) + shade + grain).min(255) as u8
        }))
    });
    let image =
        image::imageops::resize(&small, width, height, image::imageops::FilterType::Nearest);
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Jpeg)
        .expect("a JPEG encodes");
    out
}

/// A 16×16 JPEG whose frame header claims 60000×60000 pixels: a few
/// hundred bytes that would decode into 10 GB.
pub fn bomb() -> Vec<u8> {
    let mut bomb = jpeg("bomb", 16, 16);
    // SOF0: FF C0, the segment's length (2 bytes), precision, height, width.
    let sof = bomb
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline JPEG has a SOF0 segment");
    bomb[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]);
    bomb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_deterministic_jpegs_at_instagram_sizes() {
        let one = jpeg("17900000000000001", 1080, 1350);
        assert_eq!(one, jpeg("17900000000000001", 1080, 1350));
        assert_ne!(one, jpeg("17900000000000002", 1080, 1350));
        let decoded = image::load_from_memory_with_format(&one, ImageFormat::Jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (1080, 1350));
        assert!(
            (80_000..1_000_000).contains(&one.len()),
            "about a photo's weight: {}",
            one.len()
        );
        assert!(FEED_SIZES.contains(&FakeCdn::size_of("anything")));
    }

    #[test]
    fn the_bomb_claims_huge_dimensions() {
        let reader = image::ImageReader::new(Cursor::new(bomb()))
            .with_guessed_format()
            .unwrap();
        assert_eq!(reader.into_dimensions().unwrap(), (60_000, 60_000));
    }
}
