//! Hashtags, as `/hashtags/{tag}/recent.json` and `?tag=` take them, and
//! the character rule that says where a hashtag in a caption ends.

/// Whether `c` may stand in a hashtag: a letter, digit, or `_` of any
/// script, and the combining marks that complete letters in many scripts
/// (`char::is_alphanumeric` leaves those out, so `#नमस्ते` would end after
/// its first letter). Unicode's identifier-continue class is that set.
pub fn is_hashtag_char(c: char) -> bool {
    c == '_' || unicode_ident::is_xid_continue(c)
}

/// A hashtag as Instagram accepts it: letters, digits and underscores, at
/// most 100 characters, without the `#`; compared in lower case.
pub fn parse_hashtag(raw: &str) -> Option<String> {
    let tag = raw.strip_prefix('#').unwrap_or(raw);
    let ok = !tag.is_empty() && tag.chars().count() <= 100 && tag.chars().all(is_hashtag_char);
    ok.then(|| tag.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashtags_are_letters_digits_and_underscores() {
        assert_eq!(parse_hashtag("BlueBottle").as_deref(), Some("bluebottle"));
        assert_eq!(parse_hashtag("#café_2026").as_deref(), Some("café_2026"));
        for bad in [
            "",
            "#",
            "two words",
            "a-b",
            "<script>",
            "a/b",
            "bakery!",
            "🍞",
            &"x".repeat(101),
        ] {
            assert_eq!(parse_hashtag(bad), None, "{bad}");
        }
        assert!(parse_hashtag(&"x".repeat(100)).is_some());
    }

    #[test]
    fn letters_completed_by_combining_marks_are_one_hashtag() {
        assert_eq!(parse_hashtag("नमस्ते").as_deref(), Some("नमस्ते"));
        assert_eq!(parse_hashtag("ภาษาไทย").as_deref(), Some("ภาษาไทย"));
        assert_eq!(parse_hashtag("Ünïcödé").as_deref(), Some("ünïcödé"));
    }
}
