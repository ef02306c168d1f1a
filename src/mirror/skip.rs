//! Why an image was not copied. Each reason is logged with the media id
//! and never with the URL, whose query is Instagram's signature; the feed
//! keeps serving Instagram's own URL for it.

/// An image the mirror left alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    #[error("its URL is not on a host in MEDIA_CDN_HOSTS (or not https)")]
    HostNotAllowed,
    #[error(
        "the CDN redirected to a host outside MEDIA_CDN_HOSTS (or more than {MAX_REDIRECTS} times)"
    )]
    Redirected,
    #[error("the CDN answered HTTP {0}")]
    Status(u16),
    #[error("the CDN could not be reached ({0})")]
    Unreachable(&'static str),
    #[error("the image is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the body is not a JPEG or WebP image")]
    NotAnImage,
    #[error("the image claims {0}×{1} pixels, more than the agent decodes")]
    TooManyPixels(u32, u32),
    #[error("the image cannot be decoded: {0}")]
    Corrupt(String),
}

/// Redirects followed within MEDIA_CDN_HOSTS before giving up.
pub const MAX_REDIRECTS: usize = 5;

impl Skip {
    /// What a failed request says, without its URL.
    pub fn from_request(error: &reqwest::Error) -> Skip {
        Skip::Unreachable(if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "connection refused or failed"
        } else if error.is_body() || error.is_decode() {
            "the body broke off"
        } else {
            "the request failed"
        })
    }
}
