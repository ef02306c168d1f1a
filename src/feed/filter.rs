//! What `type=`, `exclude=`, `tag=`, `q=` and `exclude_text=` select on
//! `/feed.json` and the hashtag feeds. A filter chooses among the items of
//! the cached upstream pages: it costs no upstream call and has no cache key
//! of its own, and without one no item is ever parsed.

use std::borrow::Cow;

use serde::Deserialize;

use crate::domain::{is_hashtag_char, parse_hashtag};

/// Instagram's `media_type` values, and `REELS`, the `media_product_type`
/// of a reel (whose `media_type` is `VIDEO`) (IG Media reference,
/// https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-media).
const MEDIA_TYPES: [&str; 4] = ["IMAGE", "VIDEO", "CAROUSEL_ALBUM", "REELS"];
/// `REELS`'s bit: it is matched against `media_product_type`.
const REELS: u8 = 1 << 3;
/// Hashtags one `tag=` may list, so that one request's work stays small.
const MAX_TAGS: usize = 30;
/// Characters a `q=` or `exclude_text=` value may hold.
const MAX_TEXT: usize = 100;

/// A filter parameter with a value it cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("{0}")]
    Type(&'static str),
    #[error("{0}")]
    Tag(&'static str),
    #[error("{0}")]
    Text(&'static str),
}

impl FilterError {
    /// The error code of the 400 answer.
    pub fn code(&self) -> &'static str {
        match self {
            FilterError::Type(_) => "invalid_type",
            FilterError::Tag(_) => "invalid_tag",
            FilterError::Text(_) => "invalid_text",
        }
    }
}

/// Which items of a feed an answer serves; the default keeps every one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    types: Option<Types>,
    /// `tag=`: the item's caption has one of these hashtags (lower case).
    tags: Vec<String>,
    /// `q=`: the caption holds this text.
    text: Option<Text>,
    /// `exclude_text=`: the caption does not hold this text.
    except_text: Option<Text>,
}

/// `type=` (only the listed types) or `exclude=` (all but them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Types {
    /// Bit `i` stands for `MEDIA_TYPES[i]`.
    listed: u8,
    only: bool,
}

/// A caption text to look for: as given, for links, and case-folded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Text {
    given: String,
    folded: String,
}

impl Filter {
    /// Takes one query parameter; parameters that are not the filter's
    /// change nothing. A filter parameter given twice is refused rather
    /// than guessed at (frameworks disagree on which one wins): several
    /// values go in one, separated by commas.
    pub fn read(&mut self, key: &str, value: &str) -> Result<(), FilterError> {
        match key {
            "type" | "exclude" => {
                if self.types.is_some() {
                    return Err(FilterError::Type(
                        "give type or exclude, once; separate several types with commas",
                    ));
                }
                self.types = Some(Types::parse(value, key == "type")?);
            }
            "tag" => {
                if !self.tags.is_empty() {
                    return Err(FilterError::Tag(
                        "give tag once; separate several hashtags with commas",
                    ));
                }
                self.tags = parse_tags(value)?;
            }
            "q" => Text::read(&mut self.text, value, "give q once", "q")?,
            "exclude_text" => Text::read(
                &mut self.except_text,
                value,
                "give exclude_text once",
                "exclude_text",
            )?,
            _ => {}
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_none()
            && self.tags.is_empty()
            && self.text.is_none()
            && self.except_text.is_none()
    }

    /// Whether an item (its JSON as served) passes. Reads only the fields
    /// a filter looks at, borrowed where they need no unescaping, and
    /// nothing at all without a filter.
    pub fn keeps(&self, item: &[u8]) -> bool {
        #[derive(Deserialize)]
        struct Fields<'a> {
            #[serde(borrow, default)]
            media_type: Cow<'a, str>,
            #[serde(borrow, default)]
            media_product_type: Cow<'a, str>,
            #[serde(borrow, default)]
            caption: Cow<'a, str>,
        }
        if self.is_empty() {
            return true;
        }
        let Ok(Fields {
            media_type,
            media_product_type,
            caption,
        }) = serde_json::from_slice(item)
        else {
            return false;
        };
        let holds = |text: &Text| fold_str(&caption).contains(&text.folded);
        self.types
            .is_none_or(|types| types.keeps(&media_type, &media_product_type))
            && (self.tags.is_empty()
                || hashtags(&caption).any(|written| self.tags.iter().any(|t| same(written, t))))
            && self.text.as_ref().is_none_or(holds)
            && !self.except_text.as_ref().is_some_and(holds)
    }

    /// The filter as query parameters, for the links to further pages.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut params = Vec::new();
        if let Some(types) = self.types {
            let names: Vec<&str> = (0..MEDIA_TYPES.len())
                .filter(|i| types.listed & (1 << i) != 0)
                .map(|i| MEDIA_TYPES[i])
                .collect();
            let key = if types.only { "type" } else { "exclude" };
            params.push((key, names.join(",")));
        }
        if !self.tags.is_empty() {
            params.push(("tag", self.tags.join(",")));
        }
        if let Some(text) = &self.text {
            params.push(("q", text.given.clone()));
        }
        if let Some(text) = &self.except_text {
            params.push(("exclude_text", text.given.clone()));
        }
        params
    }
}

impl Types {
    fn parse(value: &str, only: bool) -> Result<Types, FilterError> {
        let bad = FilterError::Type(
            "type and exclude take IMAGE, VIDEO, CAROUSEL_ALBUM or REELS, separated by commas",
        );
        let mut listed = 0;
        for name in value.split(',').map(str::trim) {
            let i = MEDIA_TYPES
                .iter()
                .position(|t| t.eq_ignore_ascii_case(name))
                .ok_or(bad.clone())?;
            listed |= 1 << i;
        }
        Ok(Types { listed, only })
    }

    /// A reel is a `VIDEO` and `REELS`: listed if either is.
    fn keeps(&self, media_type: &str, product_type: &str) -> bool {
        let listed = MEDIA_TYPES
            .iter()
            .position(|t| *t == media_type)
            .is_some_and(|i| self.listed & (1 << i) != 0)
            || (product_type == "REELS" && self.listed & REELS != 0);
        listed == self.only
    }
}

fn parse_tags(value: &str) -> Result<Vec<String>, FilterError> {
    let mut tags = value
        .split(',')
        .map(|t| parse_hashtag(t.trim()))
        .collect::<Option<Vec<_>>>()
        .ok_or(FilterError::Tag(
            "tag takes hashtags (letters, digits and _, up to 100 characters), separated by commas",
        ))?;
    tags.sort();
    tags.dedup();
    if tags.len() > MAX_TAGS {
        return Err(FilterError::Tag("tag takes at most 30 hashtags"));
    }
    Ok(tags)
}

impl Text {
    fn read(
        slot: &mut Option<Text>,
        value: &str,
        repeated: &'static str,
        name: &'static str,
    ) -> Result<(), FilterError> {
        if slot.is_some() {
            return Err(FilterError::Text(repeated));
        }
        let length = value.chars().count();
        if !(1..=MAX_TEXT).contains(&length) {
            return Err(FilterError::Text(match name {
                "q" => "q must be 1 to 100 characters",
                _ => "exclude_text must be 1 to 100 characters",
            }));
        }
        *slot = Some(Text {
            given: value.to_string(),
            folded: fold_str(value),
        });
        Ok(())
    }
}

/// The hashtags in a caption, as written and without their `#`: each runs
/// from a `#` to the first character that cannot stand in a hashtag, so
/// `#bakery!` is `bakery` and `#bakery#bread` is two.
fn hashtags(caption: &str) -> impl Iterator<Item = &str> {
    caption
        .split('#')
        .skip(1)
        .map(|rest| &rest[..rest.find(|c| !is_hashtag_char(c)).unwrap_or(rest.len())])
        .filter(|tag| !tag.is_empty())
}

/// One character in the form case-insensitive comparison uses: lower case,
/// and final sigma as sigma (Greek writes `ς` at a word's end, where an
/// upper-case `Σ` lowers to `σ`).
fn fold(c: char) -> impl Iterator<Item = char> {
    c.to_lowercase().map(|c| if c == 'ς' { 'σ' } else { c })
}

fn fold_str(text: &str) -> String {
    text.chars().flat_map(fold).collect()
}

/// Whether a hashtag as written is `tag`, whatever the case.
fn same(written: &str, tag: &str) -> bool {
    written
        .chars()
        .flat_map(fold)
        .eq(tag.chars().flat_map(fold))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(query: &[(&str, &str)]) -> Result<Filter, FilterError> {
        let mut filter = Filter::default();
        for (key, value) in query {
            filter.read(key, value)?;
        }
        Ok(filter)
    }

    fn item(media_type: &str, caption: Option<&str>) -> Vec<u8> {
        let mut item = serde_json::json!({"id": "1", "media_type": media_type});
        if let Some(caption) = caption {
            item["caption"] = caption.into();
        }
        serde_json::to_vec(&item).unwrap()
    }

    fn tagged(tag: &str, caption: &str) -> bool {
        filter(&[("tag", tag)])
            .unwrap()
            .keeps(&item("IMAGE", Some(caption)))
    }

    #[test]
    fn a_hashtag_matches_whole_and_in_any_case() {
        for caption in [
            "#bakery",
            "Fresh bread #Bakery",
            "#BAKERY!",
            "(#bakery)",
            "#bakery, #bread",
            "#bread#bakery",
            "#bakery🍞",
            "line one\n#bakery\tline two",
        ] {
            assert!(tagged("bakery", caption), "{caption}");
        }
        for caption in [
            "#bakerylife",
            "#bakery_life",
            "#mybakery",
            "bakery",
            "# bakery",
            "",
        ] {
            assert!(!tagged("bakery", caption), "{caption}");
        }
    }

    #[test]
    fn a_hashtag_may_be_written_in_any_script() {
        assert!(tagged("café", "Un #Café au lait"));
        assert!(!tagged("cafe", "Un #café au lait"), "accents count");
        assert!(tagged("नमस्ते", "सुप्रभात #नमस्ते!"), "combining marks");
        assert!(!tagged("नम", "#नमस्ते"));
        assert!(tagged("東京", "#東京 の朝"));
        assert!(tagged("ΟΔΟΣ", "#οδος"), "final sigma");
        assert!(tagged("οδος", "#ΟΔΟΣ"));
        assert!(tagged("straße", "#STRAßE"));
        assert!(tagged("2026", "#2026"));
    }

    #[test]
    fn any_of_several_hashtags_will_do() {
        let f = filter(&[("tag", "bread, #Bakery")]).unwrap();
        assert!(f.keeps(&item("IMAGE", Some("#bakery"))));
        assert!(f.keeps(&item("IMAGE", Some("#bread"))));
        assert!(!f.keeps(&item("IMAGE", Some("#cake"))));
        assert!(!f.keeps(&item("IMAGE", None)));
        assert_eq!(f.params(), [("tag", "bakery,bread".to_string())]);
    }

    #[test]
    fn a_reel_is_a_video_and_a_reel() {
        let reel = |product: &str| {
            serde_json::to_vec(
                &serde_json::json!({"id": "1", "media_type": "VIDEO", "media_product_type": product}),
            )
            .unwrap()
        };
        let reels = filter(&[("type", "reels")]).unwrap();
        assert!(reels.keeps(&reel("REELS")));
        assert!(!reels.keeps(&reel("FEED")));
        assert!(!reels.keeps(&item("IMAGE", None)));
        // Still a video, as before reels were told apart.
        assert!(filter(&[("type", "VIDEO")]).unwrap().keeps(&reel("REELS")));
        let no_reels = filter(&[("exclude", "REELS")]).unwrap();
        assert!(!no_reels.keeps(&reel("REELS")));
        assert!(no_reels.keeps(&reel("FEED")));
        assert!(no_reels.keeps(&item("IMAGE", None)));
        assert_eq!(reels.params(), [("type", "REELS".to_string())]);
    }

    #[test]
    fn media_types_are_chosen_or_left_out() {
        let only = filter(&[("type", "image,Carousel_Album")]).unwrap();
        let except = filter(&[("exclude", "VIDEO")]).unwrap();
        for (media_type, kept) in [("IMAGE", true), ("CAROUSEL_ALBUM", true), ("VIDEO", false)] {
            assert_eq!(only.keeps(&item(media_type, None)), kept, "{media_type}");
            assert_eq!(except.keeps(&item(media_type, None)), kept, "{media_type}");
        }
        // A type Instagram may add one day passes exclude=, not type=.
        assert!(!only.keeps(&item("PANORAMA", None)));
        assert!(except.keeps(&item("PANORAMA", None)));
        assert_eq!(
            only.params(),
            [("type", "IMAGE,CAROUSEL_ALBUM".to_string())]
        );
        assert_eq!(except.params(), [("exclude", "VIDEO".to_string())]);
    }

    #[test]
    fn caption_text_is_found_or_left_out_in_any_case() {
        let f = filter(&[("q", "Sourdough"), ("exclude_text", "OVEN")]).unwrap();
        assert!(f.keeps(&item("IMAGE", Some("our SOURDOUGH loaf"))));
        assert!(!f.keeps(&item("IMAGE", Some("sourdough, out of the oven"))));
        assert!(!f.keeps(&item("IMAGE", Some("rye"))));
        assert!(!f.keeps(&item("IMAGE", None)), "no caption holds no text");
        let quoted = filter(&[("q", "\"quotes\" & <")]).unwrap();
        assert!(quoted.keeps(&item("IMAGE", Some("Tiles, \"Quotes\" & <angles>"))));
        let except = filter(&[("exclude_text", "oven")]).unwrap();
        assert!(except.keeps(&item("VIDEO", None)));
        assert_eq!(
            f.params(),
            [
                ("q", "Sourdough".to_string()),
                ("exclude_text", "OVEN".to_string())
            ]
        );
    }

    #[test]
    fn every_condition_must_hold() {
        let f = filter(&[("type", "IMAGE"), ("tag", "bakery"), ("q", "bread")]).unwrap();
        assert!(f.keeps(&item("IMAGE", Some("New bread #bakery"))));
        assert!(!f.keeps(&item("VIDEO", Some("New bread #bakery"))));
        assert!(!f.keeps(&item("IMAGE", Some("New cake #bakery"))));
        assert!(!f.keeps(&item("IMAGE", Some("New bread #bakerylife"))));
    }

    #[test]
    fn no_filter_keeps_everything_without_reading_it() {
        let f = filter(&[("limit", "5"), ("v", "1")]).unwrap();
        assert!(f.is_empty());
        assert!(f.keeps(b"not even JSON"));
        assert!(f.params().is_empty());
        assert!(!filter(&[("q", "x")]).unwrap().keeps(b"not JSON"));
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let long = "x".repeat(101);
        for (query, code) in [
            (&[("type", "PHOTO")][..], "invalid_type"),
            (&[("type", "")], "invalid_type"),
            (&[("type", "IMAGE,")], "invalid_type"),
            (&[("exclude", "reel")], "invalid_type"),
            (&[("type", "IMAGE"), ("type", "VIDEO")], "invalid_type"),
            (&[("type", "IMAGE"), ("exclude", "VIDEO")], "invalid_type"),
            (&[("tag", "")], "invalid_tag"),
            (&[("tag", "two words")], "invalid_tag"),
            (&[("tag", "bakery!")], "invalid_tag"),
            (&[("tag", "a,,b")], "invalid_tag"),
            (&[("tag", "a"), ("tag", "b")], "invalid_tag"),
            (&[("q", "")], "invalid_text"),
            (&[("q", &long)], "invalid_text"),
            (&[("q", "a"), ("q", "b")], "invalid_text"),
            (&[("exclude_text", &long)], "invalid_text"),
        ] {
            let error = filter(query).expect_err(&format!("{query:?}"));
            assert_eq!(error.code(), code, "{query:?}");
        }
        let many: Vec<String> = (0..31).map(|i| format!("t{i}")).collect();
        assert_eq!(
            filter(&[("tag", &many.join(","))]).unwrap_err().code(),
            "invalid_tag"
        );
        assert!(filter(&[("tag", &many[..30].join(","))]).is_ok());
        assert!(
            filter(&[("q", &"é".repeat(100))]).is_ok(),
            "characters, not bytes"
        );
    }
}
