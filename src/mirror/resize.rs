//! One downloaded image turned into the stored copies: decoded (JPEG or
//! WebP) within a pixel budget, resized to 1080, 640 and 320 pixels wide
//! (never up: widths above the original are left out, and an original
//! narrower than 320 is kept at its own width), each encoded as JPEG.
//!
//! Blocking and CPU-bound: callers run it on `spawn_blocking`, one image
//! per permit. Each step drops the larger buffer before the next, so one
//! Instagram-sized image (1440×1800) peaks at a few decoded frames.

use std::io::Cursor;

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageError, ImageFormat, ImageReader, Limits};

use super::skip::Skip;

/// The widths the agent serves, largest first.
pub const WIDTHS: [u32; 3] = [1080, 640, 320];

/// JPEG quality of the copies: what Instagram's own CDN serves is close.
const QUALITY: u8 = 82;

/// One encoded copy.
#[derive(Debug)]
pub struct Encoded {
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
}

/// The widths to make of an original `width` pixels wide, largest first.
pub fn widths_for(width: u32) -> Vec<u32> {
    let fitting: Vec<u32> = WIDTHS.into_iter().filter(|w| *w <= width).collect();
    if fitting.is_empty() {
        vec![width]
    } else {
        fitting
    }
}

fn height_at(width: u32, original: (u32, u32)) -> u32 {
    let (w, h) = (u64::from(original.0), u64::from(original.1));
    let scaled = (u64::from(width) * h + w / 2) / w;
    u32::try_from(scaled.max(1)).unwrap_or(u32::MAX)
}

fn reader(bytes: &[u8]) -> Result<ImageReader<Cursor<&[u8]>>, Skip> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| Skip::NotAnImage)?;
    match reader.format() {
        Some(ImageFormat::Jpeg | ImageFormat::WebP) => Ok(reader),
        _ => Err(Skip::NotAnImage),
    }
}

fn decode_error(error: ImageError, size: (u32, u32)) -> Skip {
    match error {
        ImageError::Limits(_) => Skip::TooManyPixels(size.0, size.1),
        ImageError::Unsupported(_) => Skip::NotAnImage,
        other => Skip::Corrupt(other.to_string()),
    }
}

/// The copies of `bytes`, or why there are none. `max_pixels` bounds what
/// is decoded, so a small file claiming huge dimensions (a decompression
/// bomb) is refused from its header, before any allocation.
pub fn copies(bytes: &[u8], max_pixels: u64) -> Result<Vec<Encoded>, Skip> {
    let size = reader(bytes)?
        .into_dimensions()
        .map_err(|e| decode_error(e, (0, 0)))?;
    if size.0 == 0 || size.1 == 0 || u64::from(size.0) * u64::from(size.1) > max_pixels {
        return Err(Skip::TooManyPixels(size.0, size.1));
    }
    // A JPEG cut short decodes into grey rows without complaint; a whole
    // one ends with its End Of Image marker.
    if bytes.starts_with(&[0xFF, 0xD8]) && !bytes.ends_with(&[0xFF, 0xD9]) {
        return Err(Skip::Corrupt("the JPEG is truncated".into()));
    }
    let mut reader = reader(bytes)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(size.0);
    limits.max_image_height = Some(size.1);
    // The decoded frame and the decoder's own buffers.
    limits.max_alloc = Some(max_pixels * 4 + 8 * 1024 * 1024);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| decode_error(e, size))?;
    let rgb = decoded.into_rgb8();
    let mut current = Image::from_vec_u8(size.0, size.1, rgb.into_raw(), PixelType::U8x3)
        .map_err(|e| Skip::Corrupt(e.to_string()))?;
    let mut resizer = Resizer::new();
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    let mut out = Vec::new();
    for width in widths_for(size.0) {
        if width != current.width() {
            let mut smaller = Image::new(width, height_at(width, size), PixelType::U8x3);
            resizer
                .resize(&current, &mut smaller, &options)
                .map_err(|e| Skip::Corrupt(e.to_string()))?;
            // The larger frame goes at once: each step halves, or so, the memory held.
            current = smaller;
        }
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, QUALITY)
            .encode(
                current.buffer(),
                current.width(),
                current.height(),
                ExtendedColorType::Rgb8,
            )
            .map_err(|e| Skip::Corrupt(e.to_string()))?;
        out.push(Encoded {
            width: current.width(),
            height: current.height(),
            jpeg,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fake_graph::cdn::{bomb, jpeg as named_jpeg};

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        named_jpeg("17900000000000001", width, height)
    }

    fn sizes(copies: &[Encoded]) -> Vec<(u32, u32)> {
        copies.iter().map(|c| (c.width, c.height)).collect()
    }

    #[test]
    fn widths_are_never_above_the_original() {
        assert_eq!(widths_for(1440), [1080, 640, 320]);
        assert_eq!(widths_for(1080), [1080, 640, 320]);
        assert_eq!(widths_for(1000), [640, 320]);
        assert_eq!(widths_for(320), [320]);
        assert_eq!(widths_for(240), [240]);
    }

    #[test]
    fn an_instagram_portrait_gets_three_jpeg_widths_with_its_aspect_ratio() {
        let copies = copies(&jpeg(1440, 1800), 2 * 1440 * 1800).unwrap();
        assert_eq!(sizes(&copies), [(1080, 1350), (640, 800), (320, 400)]);
        for copy in &copies {
            let back = image::load_from_memory_with_format(&copy.jpeg, ImageFormat::Jpeg).unwrap();
            assert_eq!((back.width(), back.height()), (copy.width, copy.height));
        }
    }

    #[test]
    fn a_small_original_is_kept_at_its_own_width_only() {
        let copies = copies(&jpeg(240, 240), 1_000_000).unwrap();
        assert_eq!(sizes(&copies), [(240, 240)]);
    }

    #[test]
    fn bad_bodies_are_refused_with_their_reason() {
        assert_eq!(
            copies(b"<html>not an image</html>", 1_000_000).unwrap_err(),
            Skip::NotAnImage
        );
        let whole = jpeg(400, 300);
        assert!(matches!(
            copies(&whole[..whole.len() / 2], 1_000_000).unwrap_err(),
            Skip::Corrupt(_)
        ));
        assert_eq!(
            copies(&whole, 400 * 299).unwrap_err(),
            Skip::TooManyPixels(400, 300)
        );
    }

    #[test]
    fn a_header_claiming_huge_dimensions_is_refused_before_decoding() {
        assert_eq!(
            copies(&bomb(), 2 * 1440 * 1800).unwrap_err(),
            Skip::TooManyPixels(60_000, 60_000)
        );
    }
}
