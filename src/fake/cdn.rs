//! `/cdn/{name}.jpg`: a tiny generated image per media id, so a demo can show
//! a feed without the internet. Like the real CDN, a URL whose `oe=` expiry
//! has passed answers 403 "URL signature expired".

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::model::State;
use super::reply::Reply;
use super::request::Request;

const SIDE: u32 = 64;

pub(crate) fn image(state: &State, request: &Request) -> Reply {
    let name = request
        .path
        .trim_start_matches('/')
        .split('.')
        .next()
        .unwrap_or_default();
    if name.is_empty() || name.contains('/') {
        return Reply::new(404, "text/plain; charset=utf-8", "Not found");
    }
    if let Some(expiry) = request.param("oe").and_then(parse_expiry)
        && expiry <= state.now()
    {
        return Reply::new(403, "text/plain; charset=utf-8", "URL signature expired");
    }
    Reply::new(200, "image/png", png(colour_of(name)))
        .with_header("cache-control", "max-age=1209600")
}

fn parse_expiry(hex_seconds: &str) -> Option<DateTime<Utc>> {
    let seconds = i64::from_str_radix(hex_seconds, 16).ok()?;
    DateTime::from_timestamp(seconds, 0)
}

fn colour_of(name: &str) -> [u8; 3] {
    let digest = Sha256::digest(name.as_bytes());
    [digest[0], digest[1], digest[2]]
}

/// A `SIDE`×`SIDE` RGB PNG: a diagonal gradient of `colour`, stored uncompressed.
fn png(colour: [u8; 3]) -> Vec<u8> {
    let mut raw = Vec::with_capacity((SIDE * (SIDE * 3 + 1)) as usize);
    for y in 0..SIDE {
        raw.push(0); // filter: none
        for x in 0..SIDE {
            let shade = ((x + y) * 255 / (2 * SIDE)) as u8;
            raw.extend(colour.iter().map(|c| c.saturating_add(shade / 2)));
        }
    }
    let mut header = Vec::new();
    header.extend(SIDE.to_be_bytes());
    header.extend(SIDE.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]); // 8-bit RGB, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &zlib_stored(&raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend(kind);
    out.extend(data);
    let crc = crc32(&out[start..]);
    out.extend(crc.to_be_bytes());
}

/// A zlib stream of uncompressed deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = data.chunks(0xFFFF).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend(*block);
    }
    out.extend(adler32(data).to_be_bytes());
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in bytes {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }

    #[test]
    fn the_image_is_a_png() {
        let image = png([10, 20, 30]);
        assert!(image.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(image.ends_with(&[0xAE, 0x42, 0x60, 0x82]));
    }
}
